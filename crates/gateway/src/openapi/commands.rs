//! The request schema of every command: one object schema per command type, and `Command`,
//! exactly one of them picked by `type`. Precise enough that a client (or schemathesis) builds
//! valid commands from the document alone.

use serde_json::{json, Value};
use stocktake_domain::aggregates::plan::MAX_AREA_NUMBER;
use stocktake_domain::aggregates::visit::{MAX_LINKED_ACTIONS, MAX_VISIT_NUMBER};
use stocktake_domain::Command;

/// `Command` and one schema per command type, named by the type, for `components.schemas`.
pub(super) fn schemas() -> impl Iterator<Item = (String, Value)> {
    let each = COMMANDS
        .iter()
        .map(|(name, _, fields)| ((*name).to_owned(), one_command_schema(name, fields)));
    std::iter::once(("Command".to_owned(), command_schema())).chain(each)
}

/// What a command field holds, as the domain reads it (`stocktake_domain::text`, `values`).
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A UUID naming an entity.
    Id,
    /// Several UUIDs.
    Ids { min: usize, max: usize },
    /// `YYYY-MM-DD`.
    Date,
    /// One-line text of 1 to `max` characters after trimming, no control characters.
    Line { max: usize },
    /// Free text of 1 to 4,000 characters after trimming; may span lines.
    Note,
    /// A whole number within a range (areas and visits are numbered 1 to 99).
    Whole { min: u16, max: u16 },
    /// A finite number, optionally not below a minimum.
    Number { min: Option<f64> },
    /// One of these words.
    Word(&'static [&'static str]),
}

const TITLE: Field = Field::Line { max: 200 };
const ROLE: Field = Field::Line { max: 120 };
const REFERENCE: Field = Field::Line { max: 500 };
const UNIT: Field = Field::Line { max: 40 };
const STATUSES: &[&str] = &[
    "not_started",
    "in_progress",
    "blocked",
    "completed",
    "cancelled",
];
const RAGS: &[&str] = &["red", "amber", "green"];

/// Required or optional, as the command's struct has it.
const REQ: bool = true;
const OPT: bool = false;

type CommandFields = &'static [(&'static str, Field, bool)];

/// Every command's fields (docs/EVENTS.md), so the document says exactly what is accepted and
/// a client (or schemathesis) can build valid commands from it. A test parses a command built
/// from each row, with and without its optional fields.
const COMMANDS: &[(&str, &str, CommandFields)] = &[
    (
        "create_plan",
        "Starts a plan.",
        &[
            ("plan_id", Field::Id, OPT),
            ("title", TITLE, REQ),
            ("organisation", TITLE, REQ),
            ("description", Field::Note, OPT),
        ],
    ),
    (
        "agree_plan",
        "Records which body agreed the plan and when.",
        &[
            ("plan_id", Field::Id, REQ),
            ("agreed_on", Field::Date, REQ),
            ("agreed_by", ROLE, REQ),
        ],
    ),
    (
        "revise_plan",
        "A refresh or redraft, with a reason.",
        &[
            ("plan_id", Field::Id, REQ),
            ("kind", Field::Word(&["refresh", "redraft"]), REQ),
            ("reason", Field::Note, REQ),
        ],
    ),
    (
        "add_priority_area",
        "Adds a numbered priority area.",
        &[
            ("plan_id", Field::Id, REQ),
            ("area_id", Field::Id, OPT),
            (
                "number",
                Field::Whole {
                    min: 1,
                    max: MAX_AREA_NUMBER,
                },
                REQ,
            ),
            ("title", TITLE, REQ),
            ("lead", ROLE, REQ),
            ("partner_contribution", Field::Note, OPT),
        ],
    ),
    (
        "retire_priority_area",
        "Retires an active area.",
        &[
            ("plan_id", Field::Id, REQ),
            ("area_id", Field::Id, REQ),
            ("reason", Field::Note, REQ),
        ],
    ),
    (
        "establish_forum",
        "A governance forum.",
        &[
            ("plan_id", Field::Id, REQ),
            ("forum_id", Field::Id, OPT),
            (
                "kind",
                Field::Word(&[
                    "improvement_board",
                    "action_group",
                    "partnership_review",
                    "visit_preparation_group",
                    "other",
                ]),
                REQ,
            ),
            ("name", TITLE, REQ),
            ("chair", ROLE, OPT),
        ],
    ),
    (
        "record_meeting",
        "A meeting of an established forum.",
        &[
            ("plan_id", Field::Id, REQ),
            ("forum_id", Field::Id, REQ),
            ("meeting_id", Field::Id, OPT),
            ("held_on", Field::Date, REQ),
            ("summary", Field::Note, OPT),
        ],
    ),
    (
        "record_milestone",
        "Something that happened to the plan from outside.",
        &[
            ("plan_id", Field::Id, REQ),
            (
                "kind",
                Field::Word(&[
                    "judgement",
                    "statutory_direction",
                    "review",
                    "funding",
                    "other",
                ]),
                REQ,
            ),
            ("title", TITLE, REQ),
            ("occurred_on", Field::Date, REQ),
            ("note", Field::Note, OPT),
        ],
    ),
    (
        "add_action",
        "Adds an action to an active priority area.",
        &[
            ("action_id", Field::Id, OPT),
            ("plan_id", Field::Id, REQ),
            ("area_id", Field::Id, REQ),
            ("title", TITLE, REQ),
            ("description", Field::Note, OPT),
            ("owner", ROLE, REQ),
            ("start_on", Field::Date, OPT),
            ("due_on", Field::Date, REQ),
            ("partner_contribution", Field::Note, OPT),
        ],
    ),
    (
        "change_action_status",
        "Moves an action through its lifecycle.",
        &[
            ("action_id", Field::Id, REQ),
            ("status", Field::Word(STATUSES), REQ),
            ("rag", Field::Word(RAGS), OPT),
            ("note", Field::Note, OPT),
        ],
    ),
    (
        "rebaseline_action",
        "A new due date, with a reason.",
        &[
            ("action_id", Field::Id, REQ),
            ("due_on", Field::Date, REQ),
            ("reason", Field::Note, REQ),
        ],
    ),
    (
        "assign_action_owner",
        "A new owner (a role).",
        &[
            ("action_id", Field::Id, REQ),
            ("owner", ROLE, REQ),
            ("reason", Field::Note, OPT),
        ],
    ),
    (
        "record_progress",
        "A progress note, optionally with a RAG rating.",
        &[
            ("action_id", Field::Id, REQ),
            ("note", Field::Note, REQ),
            ("rag", Field::Word(RAGS), OPT),
        ],
    ),
    (
        "attach_evidence",
        "Evidence for an action.",
        &[
            ("action_id", Field::Id, REQ),
            ("evidence_id", Field::Id, OPT),
            ("title", TITLE, REQ),
            ("reference", REFERENCE, REQ),
        ],
    ),
    (
        "confirm_impact",
        "Impact of a completed action, against its evidence.",
        &[
            ("action_id", Field::Id, REQ),
            ("note", Field::Note, REQ),
            (
                "evidence_ids",
                Field::Ids {
                    min: 0,
                    max: usize::MAX,
                },
                OPT,
            ),
        ],
    ),
    (
        "reopen_action",
        "Takes a completed or cancelled action back to in progress.",
        &[
            ("action_id", Field::Id, REQ),
            ("reason", Field::Note, REQ),
            ("rag", Field::Word(RAGS), OPT),
        ],
    ),
    (
        "define_measure",
        "A KPI with a target and an amber tolerance.",
        &[
            ("measure_id", Field::Id, OPT),
            ("plan_id", Field::Id, REQ),
            ("name", TITLE, REQ),
            ("unit", UNIT, REQ),
            (
                "direction",
                Field::Word(&["lower_is_better", "higher_is_better"]),
                REQ,
            ),
            ("target", Field::Number { min: None }, REQ),
            ("tolerance", Field::Number { min: Some(0.0) }, REQ),
            ("description", Field::Note, OPT),
        ],
    ),
    (
        "change_measure_target",
        "A new target, with a reason.",
        &[
            ("measure_id", Field::Id, REQ),
            ("target", Field::Number { min: None }, REQ),
            ("tolerance", Field::Number { min: Some(0.0) }, OPT),
            ("reason", Field::Note, REQ),
        ],
    ),
    (
        "record_measure",
        "A reading for a period.",
        &[
            ("measure_id", Field::Id, REQ),
            ("value", Field::Number { min: None }, REQ),
            ("period_end", Field::Date, REQ),
            ("source", REFERENCE, REQ),
        ],
    ),
    (
        "record_visit",
        "A monitoring visit.",
        &[
            ("visit_id", Field::Id, OPT),
            ("plan_id", Field::Id, REQ),
            (
                "number",
                Field::Whole {
                    min: 1,
                    max: MAX_VISIT_NUMBER,
                },
                REQ,
            ),
            ("started_on", Field::Date, REQ),
            ("ended_on", Field::Date, REQ),
            ("theme", TITLE, REQ),
        ],
    ),
    (
        "record_finding",
        "A finding of a visit.",
        &[
            ("visit_id", Field::Id, REQ),
            ("finding_id", Field::Id, OPT),
            (
                "kind",
                Field::Word(&["strength", "area_for_improvement", "recommendation"]),
                REQ,
            ),
            ("text", Field::Note, REQ),
        ],
    ),
    (
        "link_finding",
        "Links a finding to the actions that answer it.",
        &[
            ("visit_id", Field::Id, REQ),
            ("finding_id", Field::Id, REQ),
            (
                "action_ids",
                Field::Ids {
                    min: 1,
                    max: MAX_LINKED_ACTIONS,
                },
                REQ,
            ),
        ],
    ),
    (
        "publish_visit_letter",
        "The date the visit's letter was published.",
        &[
            ("visit_id", Field::Id, REQ),
            ("published_on", Field::Date, REQ),
        ],
    ),
];

/// Text the domain accepts: something visible, no control characters (a note may hold line
/// breaks and tabs). Length is checked after trimming, so `maxLength` is a safe bound.
fn text_schema(min: usize, max: usize, multiline: bool) -> Value {
    let other = if multiline {
        r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*"
    } else {
        r"[^\x00-\x1f\x7f-\x9f]*"
    };
    let visible = r"[^\s\x00-\x1f\x7f-\x9f]";
    json!({"type": "string", "minLength": min, "maxLength": max, "pattern": format!("^{other}{visible}{other}$")})
}

fn field_schema(field: Field) -> Value {
    match field {
        Field::Id => json!({"type": "string", "format": "uuid"}),
        Field::Ids { min, max } => {
            let mut schema = json!({"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": min});
            if max != usize::MAX {
                schema["maxItems"] = max.into();
            }
            schema
        }
        Field::Date => json!({"type": "string", "format": "date"}),
        Field::Line { max } => text_schema(1, max, false),
        Field::Note => text_schema(1, 4_000, true),
        Field::Whole { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Field::Number { min } => {
            let mut schema = json!({"type": "number"});
            if let Some(min) = min {
                schema["minimum"] = min.into();
            }
            schema
        }
        Field::Word(words) => json!({"type": "string", "enum": words}),
    }
}

/// The envelope's two fields, which any command may carry.
fn envelope_fields() -> [(&'static str, Value); 2] {
    [
        (
            "effective_at",
            json!({"type": "string", "description": "When it happened: a date (YYYY-MM-DD, the start of that day) or an RFC 3339 time; never in the future.", "anyOf": [{"format": "date"}, {"format": "date-time"}]}),
        ),
        (
            "expected_version",
            json!({"type": "integer", "minimum": 0, "description": "The stream version the client last saw (or If-Match)."}),
        ),
    ]
}

fn one_command_schema(name: &str, fields: CommandFields) -> Value {
    let summary = COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, summary, _)| summary);
    let mut properties = serde_json::Map::new();
    properties.insert("type".into(), json!({"type": "string", "enum": [name]}));
    let mut required = vec![Value::from("type")];
    for (field, kind, is_required) in fields {
        properties.insert((*field).to_owned(), field_schema(*kind));
        if *is_required {
            required.push((*field).into());
        }
    }
    for (field, schema) in envelope_fields() {
        properties.insert(field.to_owned(), schema);
    }
    json!({
        "type": "object",
        "description": format!("`{name}`: {summary} See docs/EVENTS.md."),
        "required": required,
        "properties": properties,
        "additionalProperties": false
    })
}

/// A command: exactly one of the per-type schemas, picked by `type`.
fn command_schema() -> Value {
    let reference = |name: &str| format!("#/components/schemas/{name}");
    let mut envelope = serde_json::Map::new();
    envelope.insert(
        "type".into(),
        json!({"type": "string", "enum": Command::TYPES}),
    );
    for (field, schema) in envelope_fields() {
        envelope.insert(field.to_owned(), schema);
    }
    json!({
        "type": "object",
        "description": "A command of docs/EVENTS.md, plus optional effective_at and expected_version. Unknown fields are refused.",
        "required": ["type"],
        "properties": envelope,
        "oneOf": COMMANDS.iter().map(|(name, _, _)| json!({"$ref": reference(name)})).collect::<Vec<_>>(),
        "discriminator": {
            "propertyName": "type",
            "mapping": COMMANDS.iter().map(|(name, _, _)| ((*name).to_owned(), Value::from(reference(name)))).collect::<serde_json::Map<_, _>>()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::document;

    /// A value the domain accepts for a field of this kind.
    fn sample(field: Field) -> Value {
        match field {
            Field::Id => "0191f3b4-7a00-7000-8000-000000000001".into(),
            Field::Ids { .. } => json!(["0191f3b4-7a00-7000-8000-0000000000c1"]),
            Field::Date => "2018-07-24".into(),
            Field::Line { .. } | Field::Note => "Text".into(),
            Field::Whole { min, .. } => min.into(),
            Field::Number { .. } => 1.5.into(),
            Field::Word(words) => words[0].into(),
        }
    }

    #[test]
    fn every_command_is_described_with_exactly_its_fields() {
        let names: Vec<&str> = COMMANDS.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(
            names,
            Command::TYPES,
            "one row per command, in catalogue order"
        );
        for (name, _, fields) in COMMANDS {
            let build = |with_optional: bool| {
                let mut body = serde_json::Map::new();
                for (field, kind, required) in *fields {
                    if *required || with_optional {
                        body.insert((*field).to_owned(), sample(*kind));
                    }
                }
                Value::Object(body)
            };
            for with_optional in [false, true] {
                let body = build(with_optional);
                let parsed = Command::deserialize_named(name, body.clone());
                assert!(matches!(parsed, Ok(Some(_))), "{name} {body}: {parsed:?}");
            }
            for (field, _, required) in *fields {
                let mut body = build(true);
                body.as_object_mut().unwrap().remove(*field);
                let parsed = Command::deserialize_named(name, body);
                assert_eq!(parsed.is_err(), *required, "{name} without {field}");
            }
        }
        let doc = document();
        let command = &doc["components"]["schemas"]["Command"];
        assert_eq!(
            command["oneOf"].as_array().unwrap().len(),
            Command::TYPES.len()
        );
        assert_eq!(command["properties"]["type"]["enum"], json!(Command::TYPES));
        for name in Command::TYPES {
            assert!(
                doc["components"]["schemas"][name]["properties"].is_object(),
                "{name}"
            );
        }
    }
}

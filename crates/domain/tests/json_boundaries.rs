//! The command boundary: whatever JSON a client sends, reading it as a command and deciding it
//! refuses or records, and never panics. What is recorded reads back from storage as itself.
//!
//! The same boundary is fuzzed without limits by `fuzz/` (target `command`); this keeps a
//! cheap, deterministic slice of it in every `cargo test`.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use stocktake_domain::memory::{CommandMeta, MemoryStore};
use stocktake_domain::{Command, Event, TimeInput};
use uuid::Uuid;

const PLAN: &str = "0191f3b4-7a00-7000-8000-000000000001";
const AREA: &str = "0191f3b4-7a00-7000-8000-0000000000a4";
const FORUM: &str = "0191f3b4-7a00-7000-8000-0000000000b1";
const ACTION: &str = "0191f3b4-7a00-7000-8000-0000000000c1";
const DONE_ACTION: &str = "0191f3b4-7a00-7000-8000-0000000000c2";
const EVIDENCE: &str = "0191f3b4-7a00-7000-8000-0000000000e2";
const MEASURE: &str = "0191f3b4-7a00-7000-8000-0000000000d1";
const VISIT: &str = "0191f3b4-7a00-7000-8000-0000000000f3";
const FINDING: &str = "0191f3b4-7a00-7000-8000-0000000000f9";
const UNKNOWN: &str = "0191f3b4-7a00-7000-8000-0000000000ff";

/// A plan with an area, a forum, an open and a completed action, a measure, a visit and a
/// finding: every command type has something to act on.
fn store() -> &'static MemoryStore {
    static STORE: OnceLock<MemoryStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let setup = [
            json!({"type": "create_plan", "plan_id": PLAN, "title": "Improvement plan", "organisation": "Council"}),
            json!({"type": "add_priority_area", "plan_id": PLAN, "area_id": AREA, "number": 4, "title": "Workforce", "lead": "Head of Workforce"}),
            json!({"type": "establish_forum", "plan_id": PLAN, "forum_id": FORUM, "kind": "improvement_board", "name": "Board"}),
            json!({"type": "add_action", "action_id": ACTION, "plan_id": PLAN, "area_id": AREA, "title": "Recruit", "owner": "Head of Workforce", "due_on": "2018-10-31"}),
            json!({"type": "change_action_status", "action_id": ACTION, "status": "in_progress", "rag": "amber"}),
            json!({"type": "add_action", "action_id": DONE_ACTION, "plan_id": PLAN, "area_id": AREA, "title": "Review", "owner": "Head of Service", "due_on": "2018-09-30"}),
            json!({"type": "change_action_status", "action_id": DONE_ACTION, "status": "in_progress", "rag": "green"}),
            json!({"type": "attach_evidence", "action_id": DONE_ACTION, "evidence_id": EVIDENCE, "title": "Audit", "reference": "Audit report"}),
            json!({"type": "change_action_status", "action_id": DONE_ACTION, "status": "completed", "note": "Done"}),
            json!({"type": "define_measure", "measure_id": MEASURE, "plan_id": PLAN, "name": "Caseload", "unit": "cases", "direction": "lower_is_better", "target": 16.0, "tolerance": 2.0}),
            json!({"type": "record_visit", "visit_id": VISIT, "plan_id": PLAN, "number": 3, "started_on": "2018-07-10", "ended_on": "2018-07-11", "theme": "Help and protection"}),
            json!({"type": "record_finding", "visit_id": VISIT, "finding_id": FINDING, "kind": "area_for_improvement", "text": "Too slow"}),
        ];
        let mut store = MemoryStore::default();
        let mut ids = ids();
        for json in setup {
            let command: Command = serde_json::from_value(json).expect("setup parses");
            store
                .execute(command, &meta("2018-09-17T10:00:00Z", None), &mut ids)
                .expect("setup is accepted");
        }
        store
    })
}

fn meta(recorded_at: &str, effective_at: Option<TimeInput>) -> CommandMeta {
    CommandMeta {
        actor: "Programme Director".into(),
        recorded_at: recorded_at.parse::<DateTime<Utc>>().unwrap(),
        effective_at,
    }
}

fn ids() -> impl FnMut() -> Uuid {
    let mut next: u128 = 1 << 100;
    move || {
        next += 1;
        Uuid::from_u128(next)
    }
}

/// What the gateway does with a body: `effective_at` and `expected_version` go to the
/// envelope, `type` names the command, the rest are its fields. `None` when it is refused.
fn parse(body: &Value) -> Option<(Command, Option<TimeInput>)> {
    let mut fields = body.as_object()?.clone();
    let effective_at = match fields.remove("effective_at") {
        Some(Value::String(raw)) => Some(raw.parse().ok()?),
        None | Some(Value::Null) => None,
        Some(_) => return None,
    };
    fields.remove("expected_version");
    let Some(Value::String(name)) = fields.remove("type") else {
        return None;
    };
    Command::deserialize_named(&name, Value::Object(fields))
        .ok()?
        .map(|command| (command, effective_at))
}

/// Reads and decides `bodies` in order; panics only if a promise is broken.
fn decide_all(bodies: &[Value]) -> Result<(), TestCaseError> {
    let mut store = store().clone();
    let mut ids = ids();
    for body in bodies {
        let _ = serde_json::from_value::<Command>(body.clone());
        let Some((command, effective_at)) = parse(body) else {
            continue;
        };
        let text = serde_json::to_string(&command).expect("a command serializes");
        let again: Command = serde_json::from_str(&text).expect("a serialized command parses");
        prop_assert_eq!(&again, &command);
        let recorded = store.execute(
            command,
            &meta("2019-06-01T12:00:00Z", effective_at),
            &mut ids,
        );
        for envelope in recorded.unwrap_or_default() {
            let payload = envelope.event.payload_json();
            let read = Event::decode(envelope.event.type_name(), &payload);
            prop_assert_eq!(read.as_ref().ok(), Some(&envelope.event), "{}", payload);
        }
    }
    Ok(())
}

/// Any JSON at all, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        interesting_value(),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The field names commands use, a misspelling, and the envelope's two.
fn field_name() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &[
        "type",
        "plan_id",
        "area_id",
        "forum_id",
        "meeting_id",
        "action_id",
        "evidence_id",
        "measure_id",
        "visit_id",
        "finding_id",
        "action_ids",
        "evidence_ids",
        "title",
        "organisation",
        "description",
        "agreed_on",
        "agreed_by",
        "kind",
        "reason",
        "number",
        "lead",
        "partner_contribution",
        "name",
        "chair",
        "held_on",
        "summary",
        "occurred_on",
        "note",
        "owner",
        "start_on",
        "due_on",
        "status",
        "rag",
        "reference",
        "unit",
        "direction",
        "target",
        "tolerance",
        "value",
        "period_end",
        "source",
        "started_on",
        "ended_on",
        "theme",
        "text",
        "published_on",
        "effective_at",
        "expected_version",
        "titel",
    ];
    prop_oneof![
        9 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

/// Values that sit on or past an edge: ids of every stream and of none, text at its limits,
/// numbers that are not finite in f32 or not whole, impossible dates, every enum word.
fn interesting_value() -> impl Strategy<Value = Value> {
    const IDS: &[&str] = &[
        PLAN,
        AREA,
        FORUM,
        ACTION,
        DONE_ACTION,
        EVIDENCE,
        MEASURE,
        VISIT,
        FINDING,
        UNKNOWN,
    ];
    const WORDS: &[&str] = &[
        "not_started",
        "in_progress",
        "blocked",
        "completed",
        "cancelled",
        "red",
        "amber",
        "green",
        "blue",
        "refresh",
        "redraft",
        "improvement_board",
        "action_group",
        "other",
        "judgement",
        "statutory_direction",
        "higher_is_better",
        "lower_is_better",
        "area_for_improvement",
        "strength",
        "2018-02-29",
        "2018-02-28",
        "2019-06-01",
        "2019-06-02",
        "1970-01-01",
        "0000-01-01",
        "+262143-12-31",
        "-262144-01-01",
        "2019-06-01T12:00:00Z",
        "2019-06-01T12:00:00.000000001+14:00",
        "9999-12-31T23:59:59Z",
        "",
        " ",
        "\n",
        "a\nb",
        "\u{0}",
        "\u{200b}",
        "é",
        "🦀",
    ];
    prop_oneof![
        prop::sample::select(IDS).prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        prop::sample::select(
            &[
                0usize, 1, 39, 40, 41, 119, 120, 121, 199, 200, 201, 499, 500, 501, 3999, 4000,
                4001
            ][..]
        )
        .prop_map(|n| Value::from("x".repeat(n))),
        prop::sample::select(&[0i64, 1, 99, 100, -1, 65535, 65536, i64::MIN, i64::MAX][..])
            .prop_map(Value::from),
        prop::sample::select(&[0.5f64, -0.0, 1e308, -1e308, f64::MIN_POSITIVE, 3.4e38, 16.0][..])
            .prop_map(Value::from),
        prop::collection::vec(prop::sample::select(IDS).prop_map(Value::from), 0..4)
            .prop_map(Value::Array),
    ]
}

/// A body that is almost a command: a real type, its fields drawn from the names commands use,
/// values from the edges.
fn command_shaped() -> impl Strategy<Value = Value> {
    let value = prop_oneof![4 => interesting_value(), 1 => any_json()];
    (
        prop::sample::select(Command::TYPES),
        prop::collection::btree_map(field_name(), value, 0..10),
    )
        .prop_map(|(name, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("type".into(), name.into());
            Value::Object(object)
        })
}

/// One valid command per type against the fixed history (most are accepted)...
fn valid_commands() -> Vec<Value> {
    vec![
        json!({"type": "create_plan", "title": "Another plan", "organisation": "Council"}),
        json!({"type": "agree_plan", "plan_id": PLAN, "agreed_on": "2017-11-20", "agreed_by": "Cabinet"}),
        json!({"type": "revise_plan", "plan_id": PLAN, "kind": "redraft", "reason": "Six areas"}),
        json!({"type": "add_priority_area", "plan_id": PLAN, "number": 5, "title": "Practice", "lead": "Principal social worker"}),
        json!({"type": "retire_priority_area", "plan_id": PLAN, "area_id": AREA, "reason": "Redraft"}),
        json!({"type": "establish_forum", "plan_id": PLAN, "kind": "action_group", "name": "Group"}),
        json!({"type": "record_meeting", "plan_id": PLAN, "forum_id": FORUM, "held_on": "2018-07-24", "summary": "Reviewed"}),
        json!({"type": "record_milestone", "plan_id": PLAN, "kind": "judgement", "title": "Inadequate", "occurred_on": "2017-09-01"}),
        json!({"type": "add_action", "plan_id": PLAN, "area_id": AREA, "title": "New", "owner": "Owner", "start_on": "2018-01-01", "due_on": "2019-10-31"}),
        json!({"type": "change_action_status", "action_id": ACTION, "status": "blocked", "rag": "red"}),
        json!({"type": "rebaseline_action", "action_id": ACTION, "due_on": "2019-12-31", "reason": "Slipped"}),
        json!({"type": "assign_action_owner", "action_id": ACTION, "owner": "Director"}),
        json!({"type": "record_progress", "action_id": ACTION, "note": "Nine in post", "rag": "green"}),
        json!({"type": "attach_evidence", "action_id": ACTION, "title": "List", "reference": "HR report"}),
        json!({"type": "confirm_impact", "action_id": DONE_ACTION, "note": "Caseloads fell", "evidence_ids": [EVIDENCE]}),
        json!({"type": "reopen_action", "action_id": DONE_ACTION, "reason": "Not stable", "rag": "amber"}),
        json!({"type": "define_measure", "plan_id": PLAN, "name": "Turnover", "unit": "%", "direction": "lower_is_better", "target": 15.0, "tolerance": 2.5}),
        json!({"type": "change_measure_target", "measure_id": MEASURE, "target": 15.0, "reason": "Ambition"}),
        json!({"type": "record_measure", "measure_id": MEASURE, "value": 19.0, "period_end": "2018-03-31", "source": "Letter"}),
        json!({"type": "record_visit", "plan_id": PLAN, "number": 4, "started_on": "2018-10-10", "ended_on": "2018-10-11", "theme": "Care leavers"}),
        json!({"type": "record_finding", "visit_id": VISIT, "kind": "strength", "text": "Good supervision"}),
        json!({"type": "link_finding", "visit_id": VISIT, "finding_id": FINDING, "action_ids": [ACTION, DONE_ACTION]}),
        json!({"type": "publish_visit_letter", "visit_id": VISIT, "published_on": "2018-08-02"}),
    ]
}

/// ...and the same with one field replaced, removed or added, or the envelope's fields set.
fn mutated_command() -> impl Strategy<Value = Value> {
    let all = valid_commands();
    (
        prop::sample::select(all),
        field_name(),
        prop_oneof![3 => interesting_value(), 1 => any_json()],
        0..4u8,
    )
        .prop_map(|(mut body, field, value, how)| {
            let object = body.as_object_mut().expect("an object");
            match how {
                0 => {
                    object.remove(&field);
                }
                1 => {
                    object.insert("effective_at".into(), value);
                }
                _ => {
                    object.insert(field, value);
                }
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_is_refused_or_decided_never_panics(bodies in prop::collection::vec(any_json(), 1..4)) {
        decide_all(&bodies)?;
    }

    #[test]
    fn command_shaped_json_is_refused_or_decided(bodies in prop::collection::vec(command_shaped(), 1..4)) {
        decide_all(&bodies)?;
    }

    #[test]
    fn a_command_one_field_off_is_refused_or_decided(bodies in prop::collection::vec(mutated_command(), 1..8)) {
        decide_all(&bodies)?;
    }

    #[test]
    fn any_text_as_a_body_never_panics(text in "\\PC{0,64}") {
        if let Ok(body) = serde_json::from_str::<Value>(&text) {
            decide_all(&[body])?;
        }
    }
}

#[test]
fn every_valid_command_of_this_file_is_accepted_on_the_fixed_history() {
    // The mutation strategy starts from these; if they were refused, it would explore less.
    for body in valid_commands() {
        let (command, effective_at) =
            parse(&body).unwrap_or_else(|| panic!("does not parse: {body}"));
        let mut store = store().clone();
        store
            .execute(
                command,
                &meta("2019-06-01T12:00:00Z", effective_at),
                &mut ids(),
            )
            .unwrap_or_else(|e| panic!("refused: {e}\n{body}"));
    }
}

/// A number read from a command was stored as its shortest decimal form, and serde_json's
/// default (fast, not correctly rounded) parser read that form back as a neighbouring `f64`:
/// the decider saw one target, every later read another. Fixed by serde_json's
/// `float_roundtrip` feature in the workspace.
#[test]
fn regression_a_large_measure_target_reads_back_as_the_decider_saw_it() {
    for target in [
        json!(917_809_530_274_409_025_u64),
        json!(9.178095302744091e17),
        json!(0.1),
        json!(1.0e-300),
    ] {
        let body = json!({"type": "change_measure_target", "measure_id": MEASURE, "target": target, "reason": "Ambition"});
        let (command, effective_at) = parse(&body).expect("parses");
        let mut store = store().clone();
        let recorded = store
            .execute(
                command,
                &meta("2019-06-01T12:00:00Z", effective_at),
                &mut ids(),
            )
            .expect("accepted");
        let event = &recorded[0].event;
        let read = Event::decode(event.type_name(), &event.payload_json()).unwrap();
        assert_eq!(&read, event, "{target}");
    }
}

//! The demo journey: Croydon's children's services improvement, 2017 to 2019, as a sequence of
//! Stocktake commands.
//!
//! A real journey makes the product legible: a board paper, an "as of" question or a drift
//! report means something when it is about visits, findings and caseloads that happened. The
//! journey lives in `demo/croydon.json`, embedded at compile time so that loading it is pure.
//! Facts from the public sources are exact; everything added to complete the story is marked
//! `illustrative` step by step, and the file's `note` says which recordings are deliberately late.
//!
//! Ids in the file are symbolic (`"@plan"`, `"@action-nqsw-recruitment"`) so that the data
//! reads as prose and later steps can name what earlier ones created. Each resolves to a UUID v5
//! under [`NAMESPACE`], so the same journey always yields the same ids, and [`ids`] gives the
//! same deterministic source for the ids a store makes, so replaying the demo twice gives
//! identical logs.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::commands::Command;
use crate::error::DomainError;
use crate::ids::PlanId;
use crate::memory::{CommandMeta, MemoryStore};
use crate::time::TimeInput;

/// The journey as stored: JSON, embedded so that loading it does no I/O.
pub const JOURNEY_JSON: &str = include_str!("../demo/croydon.json");

/// The namespace of every demo id. Fixed forever: other code and saved demo logs name demo
/// entities by these ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x5e0c_7a4e_c0d0_4b1e_9d2a_2017_2019_c40d);

/// A symbolic id starts with this in the file.
const SYMBOL: char = '@';

/// The id a symbolic name stands for (`id("plan")` for `"@plan"`).
pub fn id(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The demo plan's id.
pub fn plan_id() -> PlanId {
    PlanId(id("plan"))
}

/// A deterministic source of the ids a store makes while the demo runs (event and command
/// ids). Each call of `ids()` starts again from the beginning, so two replays agree.
pub fn ids() -> impl FnMut() -> Uuid {
    let mut counter: u64 = 0;
    move || {
        counter += 1;
        // A name space of its own, so a generated id can never equal a symbolic one.
        id(&format!("#generated-{counter}"))
    }
}

/// One step of the journey: a command, who gave it and when, on both clocks.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStep {
    /// When the programme office would have entered it (simulated).
    pub recorded_at: DateTime<Utc>,
    /// When it happened; `None` means at `recorded_at`.
    pub effective_at: Option<TimeInput>,
    /// The role that gave the command.
    pub actor: String,
    /// The source document it comes from (`"003"`), if any.
    pub source: Option<String>,
    /// Whether anything in the step was added to complete the story rather than taken from a
    /// source.
    pub illustrative: bool,
    pub command: Command,
}

impl DemoStep {
    /// The metadata [`MemoryStore::execute`] wants.
    pub fn meta(&self) -> CommandMeta {
        CommandMeta {
            actor: self.actor.clone(),
            recorded_at: self.recorded_at,
            effective_at: self.effective_at,
        }
    }
}

/// The whole journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub title: String,
    /// What is simulated, what is illustrative, and which recordings are deliberately late.
    pub note: String,
    pub steps: Vec<DemoStep>,
}

/// Why the journey file could not be read. Names the step, so a broken edit is quick to find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    #[error("the demo journey is not valid JSON of the expected shape: {0}")]
    File(String),
    #[error("step {index}: {message}")]
    Step { index: usize, message: String },
}

/// Why a step of the journey was refused when run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Load(#[from] DemoError),
    #[error("step {index} ({command_type}) was refused: {error}")]
    Refused {
        index: usize,
        command_type: &'static str,
        error: DomainError,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJourney {
    title: String,
    note: String,
    steps: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    recorded_at: DateTime<Utc>,
    #[serde(default)]
    effective_at: Option<TimeInput>,
    actor: String,
    source: Option<String>,
    illustrative: bool,
    command: Value,
}

/// Reads the embedded journey and resolves its symbolic ids.
pub fn journey() -> Result<Journey, DemoError> {
    parse(JOURNEY_JSON)
}

/// Reads a journey in the demo file's format. Public so that a variant can be checked the
/// same way.
pub fn parse(json: &str) -> Result<Journey, DemoError> {
    let raw: RawJourney = serde_json::from_str(json).map_err(|e| DemoError::File(e.to_string()))?;
    let steps = raw
        .steps
        .into_iter()
        .enumerate()
        .map(|(index, value)| step(value).map_err(|message| DemoError::Step { index, message }))
        .collect::<Result<_, _>>()?;
    Ok(Journey {
        title: raw.title,
        note: raw.note,
        steps,
    })
}

fn step(value: Value) -> Result<DemoStep, String> {
    let raw: RawStep = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let mut command = raw.command;
    let command_type = command
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("(no type)")
        .to_owned();
    resolve(&mut command);
    let command: Command = serde_json::from_value(command)
        .map_err(|e| format!("{command_type} does not parse: {e}"))?;
    Ok(DemoStep {
        recorded_at: raw.recorded_at,
        effective_at: raw.effective_at,
        actor: raw.actor,
        source: raw.source,
        illustrative: raw.illustrative,
        command,
    })
}

/// Replaces every string that starts with `@`, at any depth, with the id it stands for.
/// Free text never starts with `@`, so ids and arrays of ids are all that change.
fn resolve(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix(SYMBOL) {
                *s = id(name).to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(resolve),
        Value::Object(fields) => fields.values_mut().for_each(resolve),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Runs the whole journey through a fresh [`MemoryStore`], with ids from [`ids`].
pub fn replay() -> Result<MemoryStore, ReplayError> {
    let journey = journey()?;
    let mut store = MemoryStore::default();
    let mut next_id = ids();
    for (index, step) in journey.steps.into_iter().enumerate() {
        let meta = step.meta();
        let command_type = step.command.type_name();
        store
            .execute(step.command, &meta, &mut next_id)
            .map_err(|error| ReplayError::Refused {
                index,
                command_type,
                error,
            })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_ids_are_stable_v5_ids() {
        assert_eq!(id("plan"), id("plan"));
        assert_ne!(id("plan"), id("visit-2"));
        assert_eq!(id("plan").get_version_num(), 5);
        assert_eq!(plan_id().uuid(), id("plan"));
    }

    #[test]
    fn generated_ids_repeat_from_the_start_on_each_call() {
        let first: Vec<Uuid> = std::iter::repeat_with(ids()).take(3).collect();
        let second: Vec<Uuid> = std::iter::repeat_with(ids()).take(3).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
    }

    #[test]
    fn resolves_ids_at_any_depth_and_leaves_other_text_alone() {
        let mut value = serde_json::json!({
            "type": "link_finding", "visit_id": "@visit-2", "finding_id": "@f",
            "action_ids": ["@a", "@b"], "note": "not @ the start"
        });
        resolve(&mut value);
        assert_eq!(value["visit_id"], id("visit-2").to_string());
        assert_eq!(value["action_ids"][1], id("b").to_string());
        assert_eq!(value["note"], "not @ the start");
    }

    #[test]
    fn a_broken_step_is_named_by_its_index() {
        let json = r#"{"title": "t", "note": "n", "steps": [
            {"recorded_at": "2018-01-01T09:00:00Z", "actor": "Programme Director", "source": null,
             "illustrative": true, "command": {"type": "create_plan", "plan_id": "@plan",
             "title": "Plan", "organisation": "Council"}},
            {"recorded_at": "2018-01-01T09:00:00Z", "actor": "Programme Director", "source": null,
             "illustrative": true, "command": {"type": "agree_plan", "plan_id": "@plan"}}
        ]}"#;
        let err = parse(json).unwrap_err();
        let DemoError::Step { index, message } = &err else {
            panic!("expected a step error, got {err}");
        };
        assert_eq!(*index, 1);
        assert!(message.contains("agree_plan"), "{message}");
        assert!(message.contains("agreed_on"), "{message}");
    }
}

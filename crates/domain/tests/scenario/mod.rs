//! Given / when / then for the deciders: given these commands were recorded, when the director
//! gives this one, then these events are recorded (or this field and rule refuse it).

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::Value;
use stocktake_domain::memory::{CommandMeta, MemoryStore};
use stocktake_domain::{Command, DomainError, Event, TimeInput};
use uuid::Uuid;

pub const PLAN: &str = "00000000-0000-7000-8000-000000000001";
pub const OTHER_PLAN: &str = "00000000-0000-7000-8000-000000000002";
pub const AREA: &str = "00000000-0000-7000-8000-000000000011";
pub const OTHER_AREA: &str = "00000000-0000-7000-8000-000000000012";
pub const ACTION: &str = "00000000-0000-7000-8000-000000000021";
pub const OTHER_ACTION: &str = "00000000-0000-7000-8000-000000000022";
pub const FOREIGN_ACTION: &str = "00000000-0000-7000-8000-000000000023";
pub const MEASURE: &str = "00000000-0000-7000-8000-000000000031";
pub const VISIT: &str = "00000000-0000-7000-8000-000000000041";
pub const FINDING: &str = "00000000-0000-7000-8000-000000000051";
pub const EVIDENCE: &str = "00000000-0000-7000-8000-000000000061";
pub const FORUM: &str = "00000000-0000-7000-8000-000000000071";

#[derive(Debug)]
pub struct Scenario {
    store: MemoryStore,
    next: u128,
    pub now: DateTime<Utc>,
}

pub fn command(json: Value) -> Command {
    serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("test command does not parse: {e}\n{json}"))
}

pub fn given(commands: impl IntoIterator<Item = Value>) -> Scenario {
    let mut scenario = Scenario {
        store: MemoryStore::default(),
        next: 1 << 64,
        now: "2018-09-17T10:00:00Z".parse().unwrap(),
    };
    for json in commands {
        let text = json.to_string();
        scenario
            .when(json)
            .unwrap_or_else(|e| panic!("given step refused: {e}\n{text}"));
    }
    scenario
}

impl Scenario {
    pub fn when(&mut self, json: Value) -> Result<Vec<Event>, DomainError> {
        self.when_at(json, None)
    }

    pub fn when_at(
        &mut self,
        json: Value,
        effective_at: Option<TimeInput>,
    ) -> Result<Vec<Event>, DomainError> {
        let meta = CommandMeta {
            actor: "Programme Director".into(),
            recorded_at: self.now,
            effective_at,
        };
        let next = &mut self.next;
        let mut ids = || {
            *next += 1;
            Uuid::from_u128(*next)
        };
        self.store
            .execute(command(json), &meta, &mut ids)
            .map(|envelopes| envelopes.into_iter().map(|e| e.event).collect())
    }

    pub fn store(&self) -> &MemoryStore {
        &self.store
    }
}

/// Asserts a refusal names `field` and says something containing `words`.
pub fn assert_refused(result: Result<Vec<Event>, DomainError>, field: &str, words: &str) {
    match result {
        Ok(events) => panic!("expected {field} to be refused, but recorded {events:?}"),
        Err(err) => {
            assert_eq!(err.field(), Some(field), "wrong field in: {err}");
            assert!(
                err.to_string().contains(words),
                "`{err}` does not say `{words}`"
            );
        }
    }
}

/// The type names of what was recorded.
pub fn types(result: Result<Vec<Event>, DomainError>) -> Vec<&'static str> {
    result
        .unwrap_or_else(|e| panic!("refused: {e}"))
        .iter()
        .map(Event::type_name)
        .collect()
}

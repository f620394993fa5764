//! The commands every run sends: one event per command, a ~300-byte
//! `ProgressRecorded` payload, each writer on its own action stream with an
//! exact expected version. Both stores get byte-identical events.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use stocktake_log::{AppendRequest, ExpectedVersion, NewEvent, StreamRef};
use uuid::Uuid;

/// Bytes of JSON in one workload payload, as in the log's own bench.
pub const PAYLOAD_LEN: usize = 298;

pub const ACTOR: &str = "director@council.example";

/// One event before it is stored, as both stores see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub event_id: Uuid,
    pub stream_type: &'static str,
    pub stream_id: Uuid,
    /// The version the stream must be at; the event becomes `expected + 1`.
    pub expected: u64,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub event_type: &'static str,
    pub data: String,
}

impl Event {
    fn new(
        stream_type: &'static str,
        stream_id: Uuid,
        expected: u64,
        event_type: &'static str,
        data: String,
    ) -> Event {
        let now = Utc::now();
        Event {
            event_id: Uuid::now_v7(),
            stream_type,
            stream_id,
            expected,
            recorded_at: now,
            effective_at: now,
            command_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
            event_type,
            data,
        }
    }

    /// The workload's command: a progress note on `action`.
    pub fn progress(action: Uuid, expected: u64, payload: &str) -> Event {
        Event::new(
            "action",
            action,
            expected,
            "ProgressRecorded",
            payload.to_owned(),
        )
    }

    pub fn to_request(&self) -> AppendRequest {
        AppendRequest {
            stream: StreamRef {
                stream_type: self.stream_type.to_owned(),
                stream_id: self.stream_id,
            },
            expected_version: ExpectedVersion::Exactly(self.expected),
            events: vec![NewEvent {
                event_id: self.event_id,
                event_type: self.event_type.to_owned(),
                schema_version: 1,
                recorded_at: self.recorded_at,
                effective_at: self.effective_at,
                actor: ACTOR.to_owned(),
                correlation_id: self.correlation_id,
                data: RawValue::from_string(self.data.clone()).expect("the workload's JSON"),
            }],
            command_id: self.command_id,
            request_digest: *self
                .command_id
                .as_bytes()
                .repeat(2)
                .first_chunk()
                .expect("32 bytes"),
        }
    }
}

/// A `ProgressRecorded` payload of exactly [`PAYLOAD_LEN`] bytes.
pub fn progress_payload(action: Uuid) -> String {
    let head = format!(
        r#"{{"action_id":"{action}","rag":"amber","note":"Audit of supervision records started in the assessment teams; first findings go to the improvement board in March, with caseload figures from the workforce report"#
    );
    let mut note = head;
    while note.len() < PAYLOAD_LEN - 2 {
        note.push('.');
    }
    note.truncate(PAYLOAD_LEN - 2);
    note.push_str("\"}");
    note
}

/// A plan with one priority area and `actions` actions in it, so that the
/// server can project a log made of the workload: the first events of a
/// growth log.
#[derive(Debug)]
pub struct Plan {
    pub plan_id: Uuid,
    pub area_id: Uuid,
    pub actions: Vec<Uuid>,
}

impl Plan {
    pub fn new(actions: usize) -> Plan {
        Plan {
            plan_id: Uuid::new_v4(),
            area_id: Uuid::new_v4(),
            actions: (0..actions).map(|_| Uuid::new_v4()).collect(),
        }
    }

    /// The commands that create the plan, its area and its actions, in order.
    pub fn setup(&self) -> Vec<Event> {
        let (plan, area) = (self.plan_id, self.area_id);
        let mut events = vec![
            Event::new(
                "plan",
                plan,
                0,
                "PlanCreated",
                format!(
                    r#"{{"plan_id":"{plan}","title":"Children's services improvement plan","organisation":"Benchmark Borough Council"}}"#
                ),
            ),
            Event::new(
                "plan",
                plan,
                1,
                "PriorityAreaAdded",
                format!(
                    r#"{{"plan_id":"{plan}","area_id":"{area}","number":1,"title":"Recruitment and retention of staff","lead":"Head of Workforce"}}"#
                ),
            ),
        ];
        for (i, action) in self.actions.iter().enumerate() {
            events.push(Event::new(
                "action",
                *action,
                0,
                "ActionAdded",
                format!(r#"{{"action_id":"{action}","plan_id":"{plan}","area_id":"{area}","title":"Supervision audit {i}","owner":"Head of Service","due_on":"2030-03-31"}}"#),
            ));
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_event_is_one_the_domain_reads() {
        let plan = Plan::new(2);
        let mut events = plan.setup();
        events.push(Event::progress(
            plan.actions[0],
            1,
            &progress_payload(plan.actions[0]),
        ));
        for e in events {
            stocktake_domain::Event::decode(e.event_type, &e.data)
                .unwrap_or_else(|err| panic!("{}: {err}", e.event_type));
            e.to_request();
        }
    }

    #[test]
    fn the_payload_has_the_log_benchmarks_size() {
        let p = progress_payload(Uuid::new_v4());
        assert_eq!(p.len(), PAYLOAD_LEN);
        serde_json::from_str::<serde_json::Value>(&p).unwrap();
    }
}

//! Properties of fold and replay: whatever sequence of commands is decided, evolving its events
//! never panics, and replaying the same events always gives the same state.

mod scenario;

use proptest::prelude::*;
use scenario::*;
use serde_json::{json, Value};
use stocktake_domain::{AggregateState, StreamRef, StreamType};
use uuid::Uuid;

const PLANS: [&str; 2] = [PLAN, OTHER_PLAN];
const AREAS: [&str; 2] = [AREA, OTHER_AREA];
const ACTIONS: [&str; 3] = [ACTION, OTHER_ACTION, FOREIGN_ACTION];
const STATUSES: [&str; 5] = [
    "not_started",
    "in_progress",
    "blocked",
    "completed",
    "cancelled",
];
const RAGS: [Option<&str>; 4] = [None, Some("red"), Some("amber"), Some("green")];
const DATES: [&str; 4] = ["2018-03-31", "2018-06-30", "2018-09-30", "2018-12-31"];

fn arb_command() -> impl Strategy<Value = Value> {
    let plan = || prop::sample::select(&PLANS[..]);
    let area = || prop::sample::select(&AREAS[..]);
    let action = || prop::sample::select(&ACTIONS[..]);
    let status = || prop::sample::select(&STATUSES[..]);
    let rag = || prop::sample::select(&RAGS[..]);
    let date = || prop::sample::select(&DATES[..]);
    prop_oneof![
        plan().prop_map(|p| json!({"type": "create_plan", "plan_id": p, "title": "Plan", "organisation": "Council"})),
        (plan(), area(), 1u16..4).prop_map(|(p, a, n)| json!({"type": "add_priority_area", "plan_id": p, "area_id": a, "number": n, "title": "Area", "lead": "Lead"})),
        (plan(), area()).prop_map(|(p, a)| json!({"type": "retire_priority_area", "plan_id": p, "area_id": a, "reason": "Redraft"})),
        (action(), plan(), area(), date()).prop_map(|(id, p, a, d)| json!({"type": "add_action", "action_id": id, "plan_id": p, "area_id": a, "title": "Action", "owner": "Owner", "due_on": d})),
        (action(), status(), rag(), any::<bool>()).prop_map(|(id, s, r, with_note)| {
            let mut c = json!({"type": "change_action_status", "action_id": id, "status": s});
            if let Some(r) = r { c["rag"] = r.into(); }
            if with_note { c["note"] = "Note".into(); }
            c
        }),
        (action(), date()).prop_map(|(id, d)| json!({"type": "rebaseline_action", "action_id": id, "due_on": d, "reason": "Slipped"})),
        (action(), rag()).prop_map(|(id, r)| {
            let mut c = json!({"type": "record_progress", "action_id": id, "note": "Update"});
            if let Some(r) = r { c["rag"] = r.into(); }
            c
        }),
        action().prop_map(|id| json!({"type": "attach_evidence", "action_id": id, "title": "Audit", "reference": "Ref"})),
        action().prop_map(|id| json!({"type": "confirm_impact", "action_id": id, "note": "Impact"})),
        action().prop_map(|id| json!({"type": "reopen_action", "action_id": id, "reason": "Reopened"})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replaying_decided_events_gives_the_same_state(commands in prop::collection::vec(arb_command(), 1..60)) {
        let mut scenario = given([]);
        for command in commands {
            // Refusals are expected; the property is about what was accepted.
            let _ = scenario.when(command);
        }
        let envelopes = scenario.store().envelopes();
        let all_ids = PLANS.iter().chain(ACTIONS.iter()).map(|id| id.parse::<Uuid>().unwrap());
        for id in all_ids {
            for stream_type in [StreamType::Plan, StreamType::Action] {
                let stream = StreamRef { stream_type, id };
                let events: Vec<_> = envelopes.iter().filter(|e| e.stream == stream).map(|e| &e.event).collect();
                let first = AggregateState::fold(stream_type, events.iter().copied());
                let second = AggregateState::fold(stream_type, events.iter().copied());
                prop_assert_eq!(&first, &second);
                prop_assert_eq!(&first, &scenario.store().state(stream));
            }
        }
        let versions_in_order = envelopes.windows(2).all(|w| w[0].seq + 1 == w[1].seq);
        prop_assert!(versions_in_order, "sequence numbers have gaps");
    }

    #[test]
    fn evolve_never_panics_on_any_event_order(commands in prop::collection::vec(arb_command(), 1..40), seed in any::<u64>()) {
        let mut scenario = given([]);
        for command in commands {
            let _ = scenario.when(command);
        }
        let mut events: Vec<_> = scenario.store().envelopes().iter().map(|e| e.event.clone()).collect();
        // Folding out of order is what as-of replays by effective time may do.
        let len = events.len();
        if len > 1 {
            events.rotate_left((seed as usize) % len);
        }
        for stream_type in [StreamType::Plan, StreamType::Action, StreamType::Measure, StreamType::Visit] {
            let _ = AggregateState::fold(stream_type, &events);
        }
    }
}

//! The stored-event boundary: whatever a stored event (or an export line) holds, the domain's
//! upcaster and envelope decoding read it or say why not, and never panic. What they read
//! re-encodes to a payload that reads back as the same event.
//!
//! The same boundary is fuzzed without limits by `fuzz/` (target `envelope`); this keeps a
//! cheap, deterministic slice of it in every `cargo test`.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use stocktake_domain::Event;
use stocktake_log::{upcast_to_current, StoredEvent};
use stocktake_projections::{envelope, DomainUpcaster};

const CATALOGUE: &str = include_str!("../../../docs/EVENTS.md");

/// The event examples of docs/EVENTS.md: payloads that decode, to be bent out of shape.
fn catalogue_events() -> Vec<(String, Value)> {
    CATALOGUE
        .split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter_map(|v| {
            let name = v["type"].as_str()?.to_owned();
            let data = v.get("data")?.clone();
            name.starts_with(char::is_uppercase).then_some((name, data))
        })
        .collect()
}

/// Reads one stored-event line as the projections do: upcast until current, then decode.
fn read(line: &str) -> Result<(), TestCaseError> {
    let Ok(stored) = serde_json::from_str::<StoredEvent>(line) else {
        return Ok(());
    };
    let Ok(stored) = upcast_to_current(&DomainUpcaster, stored) else {
        return Ok(());
    };
    if let Ok(read) = envelope(&stored) {
        prop_assert_eq!(read.seq, stored.seq);
        let payload = read.event.payload_json();
        let again = Event::decode(read.event.type_name(), &payload);
        prop_assert_eq!(again.as_ref().ok(), Some(&read.event), "{}", payload);
    }
    Ok(())
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(
            &[
                "0191f3b4-7a00-7000-8000-0000000000c1",
                "2018-02-29",
                "2018-07-24",
                "",
                " x ",
                "in_progress",
                "amber",
                "blue",
                "redraft",
                "+262143-12-31",
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A payload from the catalogue with one field replaced, removed or added.
fn bent_payload() -> impl Strategy<Value = (String, Value)> {
    let events = catalogue_events();
    assert!(events.len() > 20, "docs/EVENTS.md has its event examples");
    (
        prop::sample::select(events),
        any::<prop::sample::Index>(),
        "[a-z_]{1,14}",
        any_json(),
        0..4u8,
    )
        .prop_map(|((name, mut data), at, new_field, value, how)| {
            let object = data.as_object_mut().expect("payloads are objects");
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = keys[at.index(keys.len())].clone();
            match how {
                0 => {
                    object.remove(&key);
                }
                1 => {
                    object.insert(key, value);
                }
                2 => {
                    object.insert(new_field, value);
                }
                _ => {}
            }
            (name, data)
        })
}

/// A whole stored event, its envelope fields valid or not.
fn stored_event() -> impl Strategy<Value = Value> {
    let event_type = prop_oneof![
        8 => prop::sample::select(Event::TYPES).prop_map(str::to_owned),
        1 => "[A-Za-z]{0,20}",
    ];
    let payload = prop_oneof![3 => bent_payload(), 1 => (event_type, any_json())];
    let schema_version = prop_oneof![8 => Just(1u32), 1 => Just(0u32), 1 => any::<u32>()];
    let stream_type = prop_oneof![
        8 => prop::sample::select(&["plan", "action", "measure", "visit"][..]).prop_map(str::to_owned),
        1 => "\\PC{0,10}",
    ];
    let time = prop_oneof![
        Just("2018-07-24T10:00:00Z".to_owned()),
        Just("1970-01-01T00:00:00Z".to_owned()),
        Just("+262142-12-31T23:59:59.999999999Z".to_owned()),
        "\\PC{0,30}",
    ];
    (
        payload,
        schema_version,
        stream_type,
        time.clone(),
        time,
        any::<u64>(),
        "\\PC{0,20}",
    )
        .prop_map(
            |(
                (event_type, data),
                schema_version,
                stream_type,
                recorded_at,
                effective_at,
                seq,
                actor,
            )| {
                json!({
                    "seq": seq,
                    "event_id": "0191f3b4-7a00-7000-8000-000000000e01",
                    "stream_id": "0191f3b4-7a00-7000-8000-0000000000c1",
                    "stream_type": stream_type,
                    "stream_version": 1,
                    "recorded_at": recorded_at,
                    "effective_at": effective_at,
                    "actor": actor,
                    "command_id": "0191f3b4-7a00-7000-8000-000000000c01",
                    "correlation_id": "0191f3b4-7a00-7000-8000-000000000c02",
                    "schema_version": schema_version,
                    "type": event_type,
                    "data": data,
                    "prev_hash": "0".repeat(64),
                    "hash": "1".repeat(64),
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_stored_event_is_read_or_refused_never_panics(event in stored_event()) {
        read(&event.to_string())?;
    }

    #[test]
    fn a_stored_event_with_a_field_dropped_or_added_never_panics(
        event in stored_event(),
        drop_at in any::<prop::sample::Index>(),
        extra in any_json(),
    ) {
        let mut fields: Map<String, Value> = event.as_object().unwrap().clone();
        let keys: Vec<String> = fields.keys().cloned().collect();
        let key = keys[drop_at.index(keys.len())].clone();
        fields.insert(key.clone(), extra);
        read(&Value::Object(fields.clone()).to_string())?;
        fields.remove(&key);
        read(&Value::Object(fields).to_string())?;
    }

    #[test]
    fn any_text_as_a_stored_event_never_panics(line in "\\PC{0,200}") {
        read(&line)?;
    }
}

#[test]
fn every_catalogue_event_reads_as_a_current_stored_event() {
    // The generators bend these; they must read when left alone.
    for (name, data) in catalogue_events() {
        let line = json!({
            "seq": 1, "event_id": "0191f3b4-7a00-7000-8000-000000000e01",
            "stream_id": "0191f3b4-7a00-7000-8000-0000000000c1", "stream_type": "action",
            "stream_version": 1, "recorded_at": "2018-07-24T10:00:00Z",
            "effective_at": "2018-07-24T10:00:00Z", "actor": "director",
            "command_id": "0191f3b4-7a00-7000-8000-000000000c01",
            "correlation_id": "0191f3b4-7a00-7000-8000-000000000c02",
            "schema_version": 1, "type": name, "data": data,
            "prev_hash": "0".repeat(64), "hash": "1".repeat(64),
        });
        let stored: StoredEvent = serde_json::from_value(line).unwrap();
        envelope(&stored).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

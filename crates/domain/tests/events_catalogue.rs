//! `docs/EVENTS.md` is the public schema: every JSON example in it must parse and round-trip,
//! and every command and event of the code must be in it.

use stocktake_domain::{Command, Event};

const CATALOGUE: &str = include_str!("../../../docs/EVENTS.md");

fn json_examples() -> Vec<serde_json::Value> {
    CATALOGUE
        .split("```json\n")
        .skip(1)
        .map(|block| {
            let text = block.split("```").next().unwrap();
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("bad JSON in EVENTS.md: {e}\n{text}"))
        })
        .collect()
}

fn is_event_type(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

#[test]
fn every_example_parses_and_round_trips() {
    let examples = json_examples();
    assert!(examples.len() >= 2 * Command::TYPES.len());
    for example in examples {
        let name = example["type"].as_str().expect("every example has a type");
        let round_trip = if is_event_type(name) {
            let event: Event = serde_json::from_value(example.clone())
                .unwrap_or_else(|e| panic!("event example {name} does not parse: {e}"));
            serde_json::to_value(&event).unwrap()
        } else {
            let command: Command = serde_json::from_value(example.clone())
                .unwrap_or_else(|e| panic!("command example {name} does not parse: {e}"));
            serde_json::to_value(&command).unwrap()
        };
        assert_eq!(round_trip, example, "{name} does not round-trip");
    }
}

#[test]
fn every_command_and_event_is_catalogued() {
    let named: Vec<String> = json_examples()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    for name in Command::TYPES.iter().chain(Event::TYPES) {
        assert!(
            named.iter().any(|n| n == name),
            "{name} has no example in docs/EVENTS.md"
        );
    }
}

#[test]
fn event_payloads_decode_by_type_name_as_the_log_stores_them() {
    for example in json_examples() {
        let name = example["type"].as_str().unwrap();
        if is_event_type(name) {
            let data = example["data"].to_string();
            let event = Event::decode(name, &data).unwrap();
            assert_eq!(event.type_name(), name);
            let reparsed: serde_json::Value = serde_json::from_str(&event.payload_json()).unwrap();
            assert_eq!(reparsed, example["data"]);
        }
    }
}

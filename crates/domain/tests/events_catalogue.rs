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
            // The raw form is what the gateway stores: the same bytes, not merely the same value.
            assert_eq!(event.payload_raw().get(), event.payload_json(), "{name}");
        }
    }
}

/// Every catalogued event that `keeps_title_and_owner` names, applied to an action whose title
/// and owner it does not mention, leaves them as they were.
#[test]
fn events_said_to_keep_the_title_and_owner_keep_them() {
    use stocktake_domain::aggregates::action::keeps_title_and_owner;
    use stocktake_domain::text::{Role, Title};
    use stocktake_domain::{AggregateState, StreamType};

    let events: Vec<Event> = json_examples()
        .into_iter()
        .filter(|e| is_event_type(e["type"].as_str().unwrap()))
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    let added = events
        .iter()
        .find_map(|e| match e {
            Event::ActionAdded(added) => Some((**added).clone()),
            _ => None,
        })
        .expect("EVENTS.md has an ActionAdded example");
    let kept: Vec<&Event> = events.iter().filter(|e| keeps_title_and_owner(e)).collect();
    assert_eq!(
        kept.len(),
        6,
        "an example of each event keeps_title_and_owner names"
    );
    for event in kept {
        let start = AggregateState::initial(StreamType::Action).evolve(
            &stocktake_domain::events::ActionAdded {
                title: Title::parse("A title no example uses").unwrap(),
                owner: Role::parse("An owner no example names").unwrap(),
                ..added.clone()
            }
            .into(),
        );
        let text = |state: &AggregateState| match state {
            AggregateState::Action(s) => {
                let action = s.action.as_ref().expect("added");
                (action.title.clone(), action.owner.clone())
            }
            _ => unreachable!(),
        };
        let before = text(&start);
        assert_eq!(text(&start.evolve(event)), before, "{event:?}");
    }
}

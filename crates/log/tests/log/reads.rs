use std::sync::Arc;

use serde_json::value::RawValue;
use stocktake_log::{ExpectedVersion, Log, LogError, LogOptions, Upcaster};
use uuid::Uuid;

use crate::support::{at, event, open, request, request_n};

#[test]
fn a_stream_reads_from_a_version_and_the_global_log_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    for _ in 0..3 {
        log.append_blocking(request_n(a, ExpectedVersion::Any, 2))
            .unwrap();
        log.append_blocking(request_n(b, ExpectedVersion::Any, 1))
            .unwrap();
    }

    let a_events = log.read_stream(a, 3).unwrap();
    assert_eq!(
        a_events
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert!(a_events
        .iter()
        .all(|e| e.stream_id == a && e.stream_type == "action"));
    assert_eq!(log.read_stream(a, 0).unwrap().len(), 6);
    assert!(log.read_stream(a, 7).unwrap().is_empty());
    assert!(log.read_stream(Uuid::new_v4(), 0).unwrap().is_empty());

    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = log.read_all(after, 4).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = page.last().unwrap().seq;
        paged.extend(page);
    }
    assert_eq!(
        paged.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    for pair in paged.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let streamed: Vec<u64> = log.iter_all(2).map(|e| e.unwrap().seq).collect();
    assert_eq!(streamed, (3..=9).collect::<Vec<_>>());
    assert_eq!(log.event(9).unwrap().unwrap().hash, log.head().head_hash);
    assert!(log.event(10).unwrap().is_none());
}

#[test]
fn payloads_and_metadata_come_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let stream = Uuid::new_v4();
    // Spaces, a tab, an escape and a number as written: all kept (a line break between tokens
    // is refused, see the append tests).
    let data = "{ \"title\" : \"Caf\u{e9} \\u00e9 review\",\t \"n\": 1.50 }";
    let mut first = event("PlanDrafted", data);
    // Recorded times come from the caller and need not increase.
    first.recorded_at = at(100);
    first.effective_at = at(-86_400);
    let mut second = event("PlanRevised", "[]");
    second.recorded_at = at(50);
    let req = request(
        stream,
        ExpectedVersion::Exactly(0),
        vec![first.clone(), second],
    );
    log.append_blocking(req.clone()).unwrap();

    let stored = &log.read_all_as_stored(0, 10).unwrap()[0];
    assert_eq!(stored.data.get(), data);
    assert_eq!(stored.event_id, first.event_id);
    assert_eq!(stored.recorded_at, at(100));
    assert_eq!(stored.effective_at, at(-86_400));
    assert_eq!(stored.actor, first.actor);
    assert_eq!(stored.correlation_id, first.correlation_id);
    assert_eq!(stored.command_id, req.command_id);
    assert_eq!(stored.event_type, "PlanDrafted");
    assert_eq!(stored.schema_version, 1);
    assert_eq!(log.read_all(1, 10).unwrap()[0].recorded_at, at(50));
}

#[test]
fn the_public_envelope_has_the_documented_fields_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append_blocking(request(
        Uuid::new_v4(),
        ExpectedVersion::Any,
        vec![event("PlanDrafted", r#"{"a":1}"#)],
    ))
    .unwrap();
    let json = serde_json::to_string(&log.read_all_as_stored(0, 1).unwrap()[0]).unwrap();
    let fields = [
        "seq",
        "event_id",
        "stream_id",
        "stream_type",
        "stream_version",
        "recorded_at",
        "effective_at",
        "actor",
        "command_id",
        "correlation_id",
        "schema_version",
        "type",
        "data",
        "prev_hash",
        "hash",
    ];
    let mut last = 0;
    for f in fields {
        let at = json
            .find(&format!("\"{f}\":"))
            .unwrap_or_else(|| panic!("{f} missing from {json}"));
        assert!(at >= last, "{f} out of order in {json}");
        last = at;
    }
    assert!(json.contains(r#""data":{"a":1}"#));
    assert!(json.contains(
        r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000""#
    ));
}

/// `ActionStatusChanged` v1 had `{"done": bool}`; v2 has `{"status": "..."}`.
#[derive(Debug)]
struct StatusV1ToV2;

impl Upcaster for StatusV1ToV2 {
    fn upcast(
        &self,
        event_type: &str,
        schema_version: u32,
        data: &RawValue,
    ) -> Result<Option<(String, u32, Box<RawValue>)>, String> {
        match (event_type, schema_version) {
            ("ActionStatusChanged", 1) => {
                let v: serde_json::Value =
                    serde_json::from_str(data.get()).map_err(|e| e.to_string())?;
                let status = if v["done"] == true { "done" } else { "open" };
                let data = RawValue::from_string(format!(r#"{{"status":"{status}"}}"#))
                    .map_err(|e| e.to_string())?;
                Ok(Some(("ActionStatusChanged".to_owned(), 2, data)))
            }
            ("Broken", _) => Err("cannot read Broken events".to_owned()),
            _ => Ok(None),
        }
    }
}

#[test]
fn reads_pass_through_the_upcaster_but_stored_reads_and_hashes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        upcaster: Some(Arc::new(StatusV1ToV2)),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    let stream = Uuid::new_v4();
    log.append_blocking(request(
        stream,
        ExpectedVersion::Any,
        vec![event("ActionStatusChanged", r#"{"done":true}"#)],
    ))
    .unwrap();

    let current = &log.read_stream(stream, 1).unwrap()[0];
    assert_eq!(
        (current.schema_version, current.data.get()),
        (2, r#"{"status":"done"}"#)
    );
    assert_eq!(
        log.read_all(0, 1).unwrap()[0].data.get(),
        r#"{"status":"done"}"#
    );
    assert_eq!(log.iter_all(0).next().unwrap().unwrap().schema_version, 2);

    let stored = &log.read_all_as_stored(0, 1).unwrap()[0];
    assert_eq!(
        (stored.schema_version, stored.data.get()),
        (1, r#"{"done":true}"#)
    );
    assert_eq!(stored.hash, current.hash);
    assert!(log.verify(&mut |_| {}).unwrap().ok);

    log.append_blocking(request(
        stream,
        ExpectedVersion::Any,
        vec![event("Broken", "{}")],
    ))
    .unwrap();
    match log.read_all(1, 1) {
        Err(LogError::Upcast { seq, reason, .. }) => {
            assert_eq!((seq, reason.as_str()), (2, "cannot read Broken events"))
        }
        other => panic!("expected an upcast error, got {other:?}"),
    }
}

#[test]
fn events_stored_as_group_commits_read_at_every_seq_and_from_every_position() {
    let dir = tempfile::tempdir().unwrap();
    let streams: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    {
        let log = open(dir.path());
        // Concurrent appenders, so that group commits hold several commands, and commands
        // of one to three events.
        std::thread::scope(|scope| {
            for (i, stream) in streams.iter().enumerate() {
                let log = log.clone();
                scope.spawn(move || {
                    for n in 0..20 {
                        let events = 1 + (i + n) % 3;
                        log.append_blocking(request_n(*stream, ExpectedVersion::Any, events))
                            .unwrap();
                    }
                });
            }
        });
        let metrics = log.metrics();
        assert!(
            metrics.groups < metrics.commands,
            "some group commits held several commands"
        );
        let events = (0..6)
            .map(|i| (0..20).map(|n| 1 + (i + n) % 3).sum::<u64>())
            .sum::<u64>();
        assert_eq!(metrics.events, events);
        assert!(
            (1..=metrics.groups).contains(&metrics.syncs),
            "every fsync made at least one group durable: {metrics:?}"
        );
        assert!(
            (metrics.mean_events_per_sync() - events as f64 / metrics.syncs as f64).abs() < 1e-9
        );
    }
    let log = open(dir.path());
    let per_stream = |i: usize| (0..20).map(|n| 1 + (i + n) % 3).sum::<usize>();
    let head = log.head().last_seq;
    assert_eq!(head as usize, (0..6).map(per_stream).sum::<usize>());
    let all = log.read_all_as_stored(0, usize::MAX).unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=head).collect::<Vec<_>>()
    );
    for after in 0..=head {
        let page = log.read_all_as_stored(after, 7).unwrap();
        let expected: Vec<u64> = (after + 1..=head.min(after + 7)).collect();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
    }
    for event in &all {
        let read = log.event(event.seq).unwrap().expect("every seq is there");
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            serde_json::to_string(event).unwrap()
        );
    }
    for (i, stream) in streams.iter().enumerate() {
        let events = log.read_stream(*stream, 1).unwrap();
        assert_eq!(events.len(), per_stream(i));
        assert!(events.iter().zip(1..).all(|(e, v)| e.stream_version == v));
    }
    assert!(log.verify(&mut |_| {}).unwrap().ok);
}

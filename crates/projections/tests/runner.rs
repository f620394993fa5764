//! The projections fed by the real log: the live follower agrees with a rebuild from scratch,
//! checkpoints restart where they left off, and a stale checkpoint is rebuilt.

use std::sync::Arc;

use serde_json::value::RawValue;
use stocktake_domain::demo;
use stocktake_domain::events::CURRENT_SCHEMA_VERSION;
use stocktake_log::{AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef};
use stocktake_projections::runner::{rebuild, StartedFrom};
use stocktake_projections::{DomainUpcaster, Projector};
use uuid::Uuid;

fn open(dir: &std::path::Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            upcaster: Some(Arc::new(DomainUpcaster)),
            ..LogOptions::default()
        },
    )
    .unwrap()
}

/// Appends the demo journey's events, stream by stream as they were decided.
fn append_demo(log: &Log) {
    let store = demo::replay().unwrap();
    for envelope in store.envelopes() {
        let request = AppendRequest {
            stream: StreamRef {
                stream_type: envelope.stream.stream_type.as_str().to_owned(),
                stream_id: envelope.stream.id,
            },
            expected_version: ExpectedVersion::Exactly(envelope.stream_version - 1),
            events: vec![NewEvent {
                event_id: envelope.event_id,
                event_type: envelope.event.type_name().to_owned(),
                schema_version: CURRENT_SCHEMA_VERSION,
                recorded_at: envelope.recorded_at,
                effective_at: envelope.effective_at,
                actor: envelope.actor.clone(),
                correlation_id: envelope.correlation_id,
                data: RawValue::from_string(envelope.event.payload_json()).unwrap(),
            }],
            command_id: Uuid::now_v7(),
            request_digest: [1; 32],
        };
        log.append_blocking(request).unwrap();
    }
}

#[tokio::test]
async fn the_live_follower_agrees_with_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let projector = Projector::start(&log, None, &mut |_, _| {}).unwrap();
    let follower = projector.follow(log.clone());
    let writer = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || append_demo(&log))
    };
    writer.await.unwrap();
    let head = log.head().last_seq;
    assert!(head > 400);
    projector.wait_for(head).await;
    let rebuilt = rebuild(&log, &mut |_, _| {}).unwrap();
    assert_eq!(projector.read().state_hash(), rebuilt.state_hash());
    follower.abort();
}

#[tokio::test]
async fn a_checkpoint_restarts_where_it_left_off_and_a_stale_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("projections");
    let expected = {
        let log = open(&dir.path().join("log"));
        append_demo(&log);
        let projector = Projector::start(&log, Some(&checkpoints), &mut |_, _| {}).unwrap();
        assert_eq!(projector.started_from(), StartedFrom::Rebuild);
        projector.save_checkpoint(&log).unwrap();
        let hash = projector.read().state_hash();
        hash
    };
    let log = open(&dir.path().join("log"));
    let mut progress_calls = 0;
    let restarted =
        Projector::start(&log, Some(&checkpoints), &mut |_, _| progress_calls += 1).unwrap();
    assert!(matches!(
        restarted.started_from(),
        StartedFrom::Checkpoint { .. }
    ));
    assert_eq!(restarted.read().state_hash(), expected);

    // A checkpoint written by another projection version is not trusted.
    let path = checkpoints.join("checkpoint.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let older = text.replacen(
        &format!(
            "\"projection_version\":{}",
            stocktake_projections::checkpoint::PROJECTION_VERSION
        ),
        "\"projection_version\":0",
        1,
    );
    assert_ne!(older, text);
    std::fs::write(&path, older).unwrap();
    let rebuilt = Projector::start(&log, Some(&checkpoints), &mut |_, _| {}).unwrap();
    assert_eq!(rebuilt.started_from(), StartedFrom::Rebuild);
    assert_eq!(rebuilt.read().state_hash(), expected);

    // Nor is one made from another log.
    drop(rebuilt);
    drop(restarted);
    drop(log);
    let other = tempfile::tempdir().unwrap();
    let other_log = open(other.path());
    append_demo(&other_log);
    let mismatched = Projector::start(&other_log, Some(&checkpoints), &mut |_, _| {}).unwrap();
    std::fs::write(&path, text).unwrap();
    let _ = mismatched;
    let from_foreign = Projector::start(&other_log, Some(&checkpoints), &mut |_, _| {}).unwrap();
    assert_eq!(
        from_foreign.started_from(),
        StartedFrom::Rebuild,
        "the checkpoint's hash names another log"
    );
}

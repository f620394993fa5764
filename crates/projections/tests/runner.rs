//! The projections fed by the real log: the live follower agrees with a rebuild from scratch,
//! checkpoints restart where they left off, and a stale checkpoint is rebuilt.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use stocktake_domain::demo;
use stocktake_domain::events::{ProgressRecorded, CURRENT_SCHEMA_VERSION};
use stocktake_domain::text::Note;
use stocktake_domain::Event;
use stocktake_log::{AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef};
use stocktake_projections::checkpoint::{self, Checkpoints};
use stocktake_projections::decode::DecodeFailure;
use stocktake_projections::model::ReadModel;
use stocktake_projections::runner::{rebuild, ProjectionError, StartedFrom};
use stocktake_projections::{DomainUpcaster, Projector};
use uuid::Uuid;

/// Generous: only reached if a fold never happens.
const HANG: Duration = Duration::from_secs(60);

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
    append_demo_part(log, 0, usize::MAX);
}

/// Appends `count` of the demo journey's events from the `first`.
fn append_demo_part(log: &Log, first: usize, count: usize) {
    let store = demo::replay().unwrap();
    for envelope in store.envelopes().iter().skip(first).take(count) {
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
async fn a_waiter_folds_its_own_event_when_no_follower_runs_and_the_follower_then_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let projector = Projector::start(&log, None, &mut |_, _| {}).unwrap();
    let writer = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || append_demo_part(&log, 0, 300))
    };
    writer.await.unwrap();
    let head = log.head().last_seq;
    assert_eq!(head, 300);
    assert_eq!(projector.last_seq(), 0, "nothing follows the log yet");
    // Without a follower, only the waiter itself can fold: waiting alone would never end.
    tokio::time::timeout(HANG, projector.reach(&log, head))
        .await
        .expect("reach folded the log itself");
    assert_eq!(projector.last_seq(), head);
    let rebuilt = rebuild(&log, &mut |_, _| {}).unwrap();
    assert_eq!(projector.read().state_hash(), rebuilt.state_hash());

    // The follower starts where the waiter left the model, and folds what comes next.
    let follower = projector.follow(log.clone());
    let more = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || append_demo_part(&log, 300, usize::MAX))
    };
    more.await.unwrap();
    let head = log.head().last_seq;
    tokio::time::timeout(HANG, projector.wait_for(head))
        .await
        .expect("the follower folded the new events");
    let rebuilt = rebuild(&log, &mut |_, _| {}).unwrap();
    assert_eq!(projector.read().state_hash(), rebuilt.state_hash());
    follower.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_that_contend_for_the_fold_each_see_their_own_event_folded() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let projector = Projector::start(&log, None, &mut |_, _| {}).unwrap();
    let total = demo::replay().unwrap().envelopes().len();
    // No follower: each waiter folds, or waits for the one that is folding, while the writer
    // keeps publishing.
    let writer = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || append_demo(&log))
    };
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (log, projector) = (log.clone(), projector.clone());
            tokio::spawn(async move {
                let mut reached = 0;
                while reached < total as u64 {
                    let head = log.head().last_seq;
                    if head == reached {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    tokio::time::timeout(HANG, projector.reach(&log, head))
                        .await
                        .expect("a waiter's own event was folded");
                    assert!(projector.last_seq() >= head);
                    reached = head;
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    let rebuilt = rebuild(&log, &mut |_, _| {}).unwrap();
    assert_eq!(projector.read().state_hash(), rebuilt.state_hash());
}

#[tokio::test]
async fn an_unreadable_event_stops_folding_after_the_events_before_it_and_waiters_return() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let projector = Projector::start(&log, None, &mut |_, _| {}).unwrap();
    append_demo_part(&log, 0, 40);
    let unreadable = AppendRequest {
        stream: StreamRef {
            stream_type: "action".to_owned(),
            stream_id: Uuid::now_v7(),
        },
        expected_version: ExpectedVersion::Exactly(0),
        events: vec![NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "ActionTeleported".to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            recorded_at: chrono::Utc::now(),
            effective_at: chrono::Utc::now(),
            actor: "someone".to_owned(),
            correlation_id: Uuid::now_v7(),
            data: RawValue::from_string("{}".to_owned()).unwrap(),
        }],
        command_id: Uuid::now_v7(),
        request_digest: [2; 32],
    };
    log.append_blocking(unreadable).unwrap();
    append_demo_part(&log, 40, 10);
    assert_eq!(log.head().last_seq, 51);

    // One page holds all 51: the 40 before the unreadable event are folded, then folding
    // stops, and a waiter for a later event is not kept waiting for what will never come.
    tokio::time::timeout(Duration::from_secs(2), projector.reach(&log, 51))
        .await
        .expect("a waiter returns once folding has stopped");
    assert_eq!(projector.last_seq(), 40);
    assert_eq!(
        projector.read().state_hash(),
        model_upto(&log, 40).state_hash()
    );
}

/// One event for an action's stream, appended on its own whatever the stream's version.
fn request(event_type: &str, stream_id: Uuid, data: String, digest: u8) -> AppendRequest {
    let now = chrono::Utc::now();
    AppendRequest {
        stream: StreamRef {
            stream_type: "action".to_owned(),
            stream_id,
        },
        expected_version: ExpectedVersion::Any,
        events: vec![NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            recorded_at: now,
            effective_at: now,
            actor: "Programme Director".to_owned(),
            correlation_id: Uuid::now_v7(),
            data: RawValue::from_string(data).unwrap(),
        }],
        command_id: Uuid::now_v7(),
        request_digest: [digest; 32],
    }
}

/// Appends `count` progress notes to the demo's first action.
fn append_progress(log: &Log, count: usize) {
    append_progress_paced(log, count, Duration::ZERO);
}

/// [`append_progress`], waiting `pause` after each note.
fn append_progress_paced(log: &Log, count: usize, pause: Duration) {
    let action_id = demo::replay()
        .unwrap()
        .envelopes()
        .iter()
        .find_map(|e| match &e.event {
            Event::ActionAdded(added) => Some(added.action_id),
            _ => None,
        })
        .expect("the demo adds actions");
    for i in 0..count {
        let note = ProgressRecorded {
            action_id,
            note: Note::parse(format!("progress note {i}")).unwrap(),
            rag: None,
        };
        let data = Event::from(note).payload_json();
        log.append_blocking(request("ProgressRecorded", action_id.0, data, 3))
            .unwrap();
        std::thread::sleep(pause);
    }
}

/// A log of the demo journey then `notes` progress notes, in a directory of its own.
fn demo_log_with_progress(notes: usize) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    append_demo(&log);
    append_progress(&log, notes);
    (dir, log)
}

/// A rebuild reads and decodes on one thread while it folds on another, a batch at a time:
/// across many batches it folds exactly what a fold one event at a time does, and says how far
/// it has got every 4,096 events and at the head; so does a start from a checkpoint far behind.
#[test]
fn a_rebuild_across_many_batches_answers_as_a_fold_one_event_at_a_time() {
    let (_dir, log) = demo_log_with_progress(4_500);
    let head = log.head().last_seq;
    let mut told = Vec::new();
    let rebuilt = rebuild(&log, &mut |done, total| told.push((done, total))).unwrap();
    assert_eq!(rebuilt.last_seq(), head);
    assert_eq!(rebuilt.state_hash(), model_upto(&log, head).state_hash());
    assert_eq!(told, [(4_096, head), (head, head)]);

    // A start from a checkpoint far behind folds the rest the same way, batch after batch.
    let checkpoints_dir = tempfile::tempdir().unwrap();
    Checkpoints::new(checkpoints_dir.path())
        .save(&log, 500)
        .unwrap();
    told.clear();
    let projector = Projector::start(&log, Some(checkpoints_dir.path()), &mut |done, total| {
        told.push((done, total))
    })
    .unwrap();
    assert_eq!(
        projector.started_from(),
        StartedFrom::Checkpoint {
            checkpoint_seq: 500
        }
    );
    assert_eq!(projector.last_seq(), head);
    assert_eq!(projector.read().state_hash(), rebuilt.state_hash());
    assert_eq!(told, [(4_096, head), (head, head)]);
}

/// An event the build cannot read, deep into a rebuild, fails it with that event's seq, after
/// the events before it were folded (as the last progress report says).
#[test]
fn a_rebuild_stops_at_an_unreadable_event_after_folding_those_before_it() {
    let (_dir, log) = demo_log_with_progress(1_500);
    log.append_blocking(request("ActionTeleported", Uuid::now_v7(), "{}".into(), 4))
        .unwrap();
    let unreadable = log.head().last_seq;
    append_progress(&log, 700);
    let mut folded = 0;
    let failure = rebuild(&log, &mut |done, _| folded = done).unwrap_err();
    match failure {
        ProjectionError::Decode(DecodeFailure { seq, reason }) => {
            assert_eq!(seq, unreadable);
            assert!(reason.contains("ActionTeleported"), "{reason}");
        }
        other => panic!("expected the unreadable event, got {other}"),
    }
    assert_eq!(folded, unreadable - 1);
}

#[test]
fn a_rebuild_sized_from_the_stream_lengths_answers_as_one_sized_by_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    append_demo(&log);
    let head = log.head().last_seq;
    let lengths = log.stream_lengths();
    assert_eq!(lengths.values().sum::<usize>() as u64, head);
    let unsized_model = model_upto(&log, head);
    for timeline in unsized_model.timelines() {
        assert_eq!(lengths[&timeline.stream().id], timeline.entries().len());
    }
    let rebuilt = rebuild(&log, &mut |_, _| {}).unwrap();
    assert_eq!(rebuilt.state_hash(), unsized_model.state_hash());

    // A wrong hint (too short, too long, a stream that never comes) changes nothing either.
    let mut wrong: std::collections::HashMap<Uuid, usize> =
        lengths.iter().map(|(id, n)| (*id, n / 2)).collect();
    wrong.extend(lengths.keys().take(3).map(|id| (*id, 10_000)));
    wrong.insert(Uuid::now_v7(), 7);
    let hinted = fold_into(ReadModel::expecting(wrong), &log, head);
    assert_eq!(hinted.state_hash(), unsized_model.state_hash());
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
    let path = checkpoint::path(&checkpoints);
    let text = std::fs::read_to_string(&path).unwrap();
    let older = text.replacen(
        &format!("{{\"Version\":{}}}", checkpoint::PROJECTION_VERSION),
        "{\"Version\":0}",
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

/// A follower saves nothing while events keep coming (a save next to the serving threads costs
/// commands their latency), and brings the checkpoint up to date once the log is quiet: here a
/// checkpoint that a rebuild left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_saves_the_checkpoint_in_the_background_once_the_log_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("projections");
    let log = open(&dir.path().join("log"));
    append_demo(&log);
    let projector = Projector::start(&log, Some(&checkpoints), &mut |_, _| {}).unwrap();
    assert_eq!(projector.started_from(), StartedFrom::Rebuild);
    let saved = || checkpoint::load(&checkpoints, log.stream_lengths()).unwrap();
    assert!(saved().is_none());

    // Three seconds of events 20 ms apart, a hundred times closer than the quiet a save waits
    // for, with the follower folding them as they come.
    let writer = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || {
            append_progress_paced(&log, 150, Duration::from_millis(20))
        })
    };
    let follower = projector.follow(log.clone());
    writer.await.unwrap();
    let head = log.head().last_seq;
    assert!(
        saved().is_none(),
        "a checkpoint was saved while events kept coming"
    );

    let deadline = std::time::Instant::now() + HANG;
    let saved = loop {
        if let Some(loaded) = saved() {
            break loaded;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint was saved once the log was quiet"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(saved.model.last_seq(), head);
    assert_eq!(saved.model.state_hash(), projector.read().state_hash());
    follower.abort();
}

/// The model of the log's first `upto` events, folded directly.
fn model_upto(log: &Log, upto: u64) -> ReadModel {
    fold_into(ReadModel::default(), log, upto)
}

/// `model` with the log's first `upto` events folded into it, one by one.
fn fold_into(mut model: ReadModel, log: &Log, upto: u64) -> ReadModel {
    for stored in log.iter_all(0).take(upto as usize) {
        model.apply(stocktake_projections::envelope(&stored.unwrap()).unwrap());
    }
    model
}

#[test]
fn a_checkpoint_grows_by_segments_and_an_unfinished_one_is_dropped_and_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("log"));
    append_demo(&log);
    let head = log.head().last_seq;
    let middle = head / 2;
    let hash = |seq: u64| log.event(seq).unwrap().unwrap().hash;
    let full_hash = rebuild(&log, &mut |_, _| {}).unwrap().state_hash();
    let checkpoints_dir = dir.path().join("projections");
    let path = checkpoint::path(&checkpoints_dir);

    let checkpoints = Checkpoints::new(&checkpoints_dir);
    assert!(checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .is_none());
    checkpoints.save(&log, middle).unwrap();
    // Each mark names the log's own hash of its position.
    assert_eq!(
        checkpoint::load(&checkpoints_dir, log.stream_lengths())
            .unwrap()
            .unwrap()
            .last_hash,
        hash(middle)
    );
    let first_segment = std::fs::metadata(&path).unwrap().len();
    checkpoints.save(&log, head).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("{\"Mark\"")).count(),
        2
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("{\"Entry\"")).count() as u64,
        head,
        "each event once: the second save wrote only what the first lacked"
    );

    let loaded = checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .unwrap();
    assert_eq!(loaded.model.state_hash(), full_hash);
    assert_eq!(loaded.last_hash, hash(head));

    // A crash during a save leaves entries without their mark and a line cut short.
    let mut torn = text.clone();
    let some_entries: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("{\"Entry\""))
        .take(3)
        .collect();
    torn.push_str(&some_entries.join("\n"));
    torn.push('\n');
    torn.push_str(&some_entries[0][..20]);
    std::fs::write(&path, &torn).unwrap();
    let loaded = checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .unwrap();
    assert_eq!(loaded.model.last_seq(), head);
    assert_eq!(loaded.model.state_hash(), full_hash);

    // The next save writes over the unfinished segment.
    let resumed = Checkpoints::resume(&checkpoints_dir, loaded.position());
    assert_eq!(resumed.saved_seq(), head);
    resumed.save(&log, head).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        torn,
        "nothing new to save"
    );

    // Cut inside the second segment: only the first is kept.
    std::fs::write(&path, &text.as_bytes()[..first_segment as usize + 100]).unwrap();
    let loaded = checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .unwrap();
    assert_eq!(loaded.model.last_seq(), middle);
    assert_eq!(
        loaded.model.state_hash(),
        model_upto(&log, middle).state_hash()
    );
    let resumed = Checkpoints::resume(&checkpoints_dir, loaded.position());
    resumed.save(&log, head).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "the second segment written again over the cut one"
    );

    // A file without a complete segment is no checkpoint.
    std::fs::write(&path, &text.as_bytes()[..first_segment as usize - 1]).unwrap();
    assert!(checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .is_none());

    // Deleted by hand while it was being appended to: the next save writes it whole again.
    std::fs::write(&path, &text.as_bytes()[..first_segment as usize]).unwrap();
    let at_middle = checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .unwrap();
    let resumed = Checkpoints::resume(&checkpoints_dir, at_middle.position());
    std::fs::remove_file(&path).unwrap();
    resumed.save(&log, head).unwrap();
    let rewritten = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        rewritten
            .lines()
            .filter(|l| l.starts_with("{\"Mark\""))
            .count(),
        1
    );
    let loaded = checkpoint::load(&checkpoints_dir, log.stream_lengths())
        .unwrap()
        .unwrap();
    assert_eq!(loaded.model.state_hash(), full_hash);
}

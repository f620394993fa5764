use stocktake_log::{AppendError, ExpectedVersion, StreamRef, GENESIS_HASH};
use uuid::Uuid;

use crate::support::{event, open, request, request_n};

#[test]
fn a_command_gets_consecutive_seqs_and_stream_versions() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(log.head().last_seq, 0);
    assert_eq!(log.head().head_hash, GENESIS_HASH);

    let a = Uuid::new_v4();
    let first = log
        .append_blocking(request_n(a, ExpectedVersion::Exactly(0), 3))
        .unwrap();
    let seqs: Vec<u64> = first.events.iter().map(|e| e.seq).collect();
    let versions: Vec<u64> = first.events.iter().map(|e| e.stream_version).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(first.stream_version, 3);
    assert!(!first.duplicate);

    let b = Uuid::new_v4();
    let second = log
        .append_blocking(request_n(b, ExpectedVersion::Any, 2))
        .unwrap();
    assert_eq!(
        second
            .events
            .iter()
            .map(|e| (e.seq, e.stream_version))
            .collect::<Vec<_>>(),
        [(4, 1), (5, 2)]
    );

    let head = log.head();
    assert_eq!(head.last_seq, 5);
    assert_eq!(head.head_hash, second.head_hash);
    assert_eq!(log.stream_version(a).unwrap(), 3);
    assert_eq!(log.stream_version(b).unwrap(), 2);
    assert_eq!(log.stream_version(Uuid::new_v4()).unwrap(), 0);
}

#[test]
fn a_stale_expected_version_is_a_conflict_that_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let stream = Uuid::new_v4();
    log.append_blocking(request_n(stream, ExpectedVersion::Exactly(0), 2))
        .unwrap();
    let head_before = log.head();

    let stale = request_n(stream, ExpectedVersion::Exactly(1), 1);
    let command_id = stale.command_id;
    match log.append_blocking(stale) {
        Err(AppendError::Conflict {
            stream_id,
            expected,
            current,
        }) => {
            assert_eq!((stream_id, expected, current), (stream, 1, 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(log.head(), head_before);
    assert_eq!(log.stream_version(stream).unwrap(), 2);
    assert_eq!(log.command(command_id).unwrap(), None);
    assert_eq!(log.read_all(0, 100).unwrap().len(), 2);

    let new_stream = request_n(Uuid::new_v4(), ExpectedVersion::Exactly(3), 1);
    assert!(matches!(
        log.append_blocking(new_stream),
        Err(AppendError::Conflict { current: 0, .. })
    ));
    assert_eq!(log.head(), head_before);
}

#[test]
fn a_retried_command_returns_the_original_outcome_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stream = Uuid::new_v4();
    let req = request_n(stream, ExpectedVersion::Exactly(0), 2);
    let original = {
        let log = open(dir.path());
        let original = log.append_blocking(req.clone()).unwrap();
        let retry = log.append_blocking(req.clone()).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.events, original.events);
        assert_eq!(retry.head_hash, original.head_hash);
        assert_eq!(log.head().last_seq, 2);
        original
    };

    // The same command after a restart, with the expected version it had
    // the first time (now stale): still the original answer.
    let log = open(dir.path());
    let retry = log.append_blocking(req.clone()).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.events, original.events);
    assert_eq!(retry.stream_version, original.stream_version);
    assert_eq!(retry.head_hash, original.head_hash);
    assert_eq!(log.head().last_seq, 2);
    let looked_up = log.command(req.command_id).unwrap().unwrap();
    assert_eq!(looked_up, retry);
}

#[test]
fn a_command_sent_twice_at_once_is_written_once_and_answered_twice() {
    // Sent together, the copies usually land in one group commit; the
    // answers must not depend on whether they do.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let req = request_n(Uuid::new_v4(), ExpectedVersion::Exactly(0), 2);
    let mut other = req.clone();
    other.request_digest = [7; 32];
    let rt = crate::support::runtime();
    for _ in 0..20 {
        let (first, second, mismatched) = rt.block_on(async {
            tokio::join!(
                log.append(req.clone()),
                log.append(req.clone()),
                log.append(other.clone())
            )
        });
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.events, second.events);
        assert_eq!(first.head_hash, second.head_hash);
        assert!(second.duplicate);
        assert!(matches!(
            mismatched,
            Err(AppendError::IdempotencyMismatch { .. })
        ));
    }
    assert_eq!(log.head().last_seq, 2);
}

#[test]
fn the_same_command_id_with_a_different_request_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let req = request_n(Uuid::new_v4(), ExpectedVersion::Any, 1);
    log.append_blocking(req.clone()).unwrap();

    let mut other = req.clone();
    other.request_digest = [7; 32];
    match log.append_blocking(other) {
        Err(AppendError::IdempotencyMismatch { command_id }) => {
            assert_eq!(command_id, req.command_id)
        }
        other => panic!("expected an idempotency mismatch, got {other:?}"),
    }
    assert_eq!(log.head().last_seq, 1);
}

#[test]
fn malformed_requests_are_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let stream = Uuid::new_v4();

    let empty = request(stream, ExpectedVersion::Any, vec![]);
    assert!(
        matches!(log.append_blocking(empty), Err(AppendError::Invalid(m)) if m.contains("no events"))
    );

    log.append_blocking(request_n(stream, ExpectedVersion::Any, 1))
        .unwrap();
    let mut as_plan = request_n(stream, ExpectedVersion::Any, 1);
    as_plan.stream = StreamRef {
        stream_type: "plan".to_owned(),
        stream_id: stream,
    };
    match log.append_blocking(as_plan) {
        Err(AppendError::Invalid(m)) => assert!(m.contains("action stream"), "{m}"),
        other => panic!("expected invalid, got {other:?}"),
    }

    let mut huge = request(
        stream,
        ExpectedVersion::Any,
        vec![event("Big", &format!("\"{}\"", "x".repeat(300_000)))],
    );
    huge.command_id = Uuid::new_v4();
    assert!(
        matches!(log.append_blocking(huge), Err(AppendError::Invalid(m)) if m.contains("data"))
    );

    // Valid JSON, but an export could not keep it on its line.
    for pretty in ["{\n  \"a\": 1\n}", "{\"a\":\r\n1}"] {
        let mut broken = request(stream, ExpectedVersion::Any, vec![event("Pretty", pretty)]);
        broken.command_id = Uuid::new_v4();
        match log.append_blocking(broken) {
            Err(AppendError::Invalid(m)) => {
                assert!(m.contains("event 1") && m.contains("on one line"), "{m}")
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }
    assert_eq!(log.head().last_seq, 1);
}

#[test]
fn async_appends_from_many_tasks_are_all_acknowledged_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let rt = crate::support::runtime();
    let outcomes = rt.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for _ in 0..5 {
                        out.push(
                            log.append(request_n(Uuid::new_v4(), ExpectedVersion::Exactly(0), 1))
                                .await
                                .unwrap(),
                        );
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut seqs: Vec<u64> = outcomes.iter().map(|o| o.events[0].seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=160).collect::<Vec<_>>());
    assert!(log.verify(&mut |_| {}).unwrap().ok);
}

#[test]
fn a_command_can_be_looked_up_with_its_digest_before_deciding_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let req = request_n(Uuid::new_v4(), ExpectedVersion::Any, 2);
    assert_eq!(
        log.command_for(req.command_id, &req.request_digest)
            .unwrap(),
        None
    );
    let original = log.append_blocking(req.clone()).unwrap();

    let found = log
        .command_for(req.command_id, &req.request_digest)
        .unwrap()
        .unwrap();
    assert!(found.duplicate);
    assert_eq!(found.events, original.events);
    assert!(matches!(
        log.command_for(req.command_id, &[1; 32]),
        Err(AppendError::IdempotencyMismatch { command_id }) if command_id == req.command_id
    ));
}

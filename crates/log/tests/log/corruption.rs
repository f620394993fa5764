//! Damage done behind the log's back, by opening its sled tree directly
//! (keys: `E` + seq as u64 big-endian → the record of an event appended on its
//! own; a group commit of several events is one value, see `groups`).

use std::path::Path;

use stocktake_log::{ExpectedVersion, LogError};
use uuid::Uuid;

use crate::support::{open, request_n};

fn event_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'E'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn with_sled(dir: &Path, f: impl FnOnce(&sled::Db)) {
    let db = crate::support::open_sled(dir);
    f(&db);
    db.flush().unwrap();
}

/// Ten events in four streams, each appended on its own, so each is the one
/// record under its key.
fn ten_events(dir: &Path) {
    let log = open(dir);
    let streams: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    for i in 0..10 {
        log.append_blocking(request_n(streams[i % 4], ExpectedVersion::Any, 1))
            .unwrap();
    }
}

fn first_bad_seq(dir: &Path) -> Option<u64> {
    let log = open(dir);
    let report = log.verify(&mut |_| {}).unwrap();
    assert_eq!(report.ok, report.first_bad_seq.is_none());
    assert_eq!(report.ok, report.problem.is_none());
    report.first_bad_seq
}

/// Verify reports event `bad` whichever byte of `positions` is changed in the value under `key`.
fn assert_each_changed_byte_reported_at(
    dir: &Path,
    key: u64,
    original: &[u8],
    positions: &[usize],
    bad: u64,
) {
    for &pos in positions {
        assert_eq!(
            first_bad_seq_with_a_changed_byte(dir, key, original, pos),
            Some(bad),
            "byte {pos} of {}",
            original.len()
        );
    }
}

/// The log opened after the values under the keys of `seqs` were removed, and its verify report.
fn verify_without(dir: &Path, seqs: &[u64]) -> (stocktake_log::Log, stocktake_log::VerifyReport) {
    with_sled(dir, |db| {
        for &seq in seqs {
            db.remove(event_key(seq)).unwrap();
        }
    });
    let log = open(dir);
    let report = log.verify(&mut |_| {}).unwrap();
    (log, report)
}

/// Verify's first bad seq with byte `pos` of the value under `key` changed; the value is put
/// back afterwards.
fn first_bad_seq_with_a_changed_byte(
    dir: &Path,
    key: u64,
    original: &[u8],
    pos: usize,
) -> Option<u64> {
    let mut damaged = original.to_vec();
    damaged[pos] ^= 0x20;
    with_sled(dir, |db| {
        db.insert(event_key(key), damaged).unwrap();
    });
    let bad = first_bad_seq(dir);
    with_sled(dir, |db| {
        db.insert(event_key(key), original).unwrap();
    });
    bad
}

#[test]
fn a_single_changed_byte_anywhere_in_an_event_is_reported_at_that_seq() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    assert_eq!(first_bad_seq(dir.path()), None);

    let original = crate::support::open_sled(dir.path())
        .get(event_key(5))
        .unwrap()
        .unwrap()
        .to_vec();
    // format, prev_hash, seq, stream id, version, stream type, event type,
    // payload, event id, timestamps, command id, actor, hash.
    let positions = [
        0,
        1,
        40,
        45,
        60,
        70,
        80,
        100,
        130,
        original.len() / 2,
        original.len() - 50,
        original.len() - 40,
        original.len() - 1,
    ];
    assert_each_changed_byte_reported_at(dir.path(), 5, &original, &positions, 5);
    assert_eq!(first_bad_seq(dir.path()), None);
}

#[test]
fn a_removed_event_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    let (_, report) = verify_without(dir.path(), &[4]);
    assert_eq!(report.first_bad_seq, Some(4));
    assert_eq!(report.events, 3);
    assert!(report.problem.unwrap().contains("missing"));
}

#[test]
fn a_removed_last_event_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    let (log, report) = verify_without(dir.path(), &[10, 9]);
    assert_eq!(log.head().last_seq, 10);
    assert!(
        log.write_failure()
            .is_some_and(|why| why.contains("run verify")),
        "{:?}",
        log.write_failure()
    );
    assert_eq!(report.first_bad_seq, Some(9), "{report:?}");
    // A page that reaches the missing tail says so, rather than ending early.
    match log.read_all(0, 100) {
        Err(LogError::Corrupt { seq, .. }) => assert_eq!(seq, 9),
        other => panic!("expected the missing event 9, got {other:?}"),
    }
    let refused = log.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 1));
    assert!(matches!(
        refused,
        Err(stocktake_log::AppendError::Storage(
            LogError::WriterFailed { .. }
        ))
    ));
}

#[test]
fn two_swapped_events_are_reported_at_the_first() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    with_sled(dir.path(), |db| {
        let three = db.get(event_key(3)).unwrap().unwrap();
        let seven = db.get(event_key(7)).unwrap().unwrap();
        db.insert(event_key(3), seven).unwrap();
        db.insert(event_key(7), three).unwrap();
    });
    let log = open(dir.path());
    let report = log.verify(&mut |_| {}).unwrap();
    assert_eq!(report.first_bad_seq, Some(3));
    assert!(report.problem.unwrap().contains("claims to be event 7"));
}

#[test]
fn a_damaged_record_is_an_error_on_read_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    with_sled(dir.path(), |db| {
        db.insert(event_key(6), &b"\x01short"[..]).unwrap();
    });
    let log = open(dir.path());
    match log.read_all(0, 100) {
        Err(LogError::Corrupt { seq, .. }) => assert_eq!(seq, 6),
        other => panic!("expected corruption at 6, got {other:?}"),
    }
    assert_eq!(log.read_all(0, 5).unwrap().len(), 5);
    let mut checked = Vec::new();
    let report = log.verify(&mut |seq| checked.push(seq)).unwrap();
    assert_eq!(report.first_bad_seq, Some(6));
    assert_eq!(checked, [1, 2, 3, 4, 5]);
}

#[test]
fn a_damaged_last_event_stops_appends_but_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    ten_events(dir.path());
    with_sled(dir.path(), |db| {
        db.insert(event_key(10), &b"garbage"[..]).unwrap();
    });
    let log = open(dir.path());
    let refused = log.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 1));
    assert!(
        matches!(
            refused,
            Err(stocktake_log::AppendError::Storage(
                LogError::WriterFailed { .. }
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(log.verify(&mut |_| {}).unwrap().first_bad_seq, Some(10));
}

/// Ten events in five commands of two, each command a group commit of its own:
/// the store holds five values, under seqs 1, 3, 5, 7 and 9.
fn five_pairs(dir: &Path) {
    let log = open(dir);
    let streams: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    for i in 0..5 {
        log.append_blocking(request_n(streams[i % 4], ExpectedVersion::Any, 2))
            .unwrap();
    }
}

#[test]
fn a_changed_byte_in_a_group_is_reported_at_the_event_it_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    five_pairs(dir.path());
    assert_eq!(first_bad_seq(dir.path()), None);
    let group = crate::support::open_sled(dir.path())
        .get(event_key(5))
        .unwrap()
        .expect("events 5 and 6 are stored as one group under 5")
        .to_vec();
    assert!(crate::support::open_sled(dir.path())
        .get(event_key(6))
        .unwrap()
        .is_none());
    // The group's mark, then each record after its four-byte length.
    let first_len = u32::from_le_bytes(group[1..5].try_into().unwrap()) as usize;
    let second_at = 1 + 4 + first_len;
    let in_first = [0, 1, 4, 5, 6, 60, 5 + first_len / 2, second_at - 1];
    let in_second = [
        second_at + 4,
        second_at + 40,
        group.len() - 40,
        group.len() - 1,
    ];
    assert_each_changed_byte_reported_at(dir.path(), 5, &group, &in_first, 5);
    assert_each_changed_byte_reported_at(dir.path(), 5, &group, &in_second, 6);
    assert_eq!(first_bad_seq(dir.path()), None);
}

#[test]
fn a_removed_group_is_reported_at_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    five_pairs(dir.path());
    let (log, report) = verify_without(dir.path(), &[5]);
    assert_eq!(report.first_bad_seq, Some(5));
    assert_eq!(report.events, 4);
    assert!(log.event(6).unwrap().is_none());
    assert_eq!(log.event(7).unwrap().unwrap().seq, 7);
}

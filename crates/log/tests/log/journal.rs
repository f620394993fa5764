//! The write-ahead journal, seen from outside: what a crash leaves behind
//! opens with every acknowledged event, and checkpoints keep it small.

use std::path::Path;

use stocktake_log::{ExpectedVersion, Log, LogError, LogOptions};
use uuid::Uuid;

use crate::support::{copy_dir, open, request_n};

fn journal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("journal")).unwrap().len()
}

/// Where the journal's frames end: each is a version byte, a 4-byte
/// little-endian body length, a 32-byte digest and the body.
fn frames_end(journal: &[u8]) -> usize {
    let mut at = 0;
    while journal.get(at) == Some(&1) {
        let len = u32::from_le_bytes(journal[at + 1..at + 5].try_into().unwrap());
        at += 37 + len as usize;
    }
    assert!(at > 0, "the journal holds frames");
    at
}

fn append_commands(log: &Log, stream: Uuid, commands: usize) {
    for _ in 0..commands {
        log.append_blocking(request_n(stream, ExpectedVersion::Any, 2))
            .unwrap();
    }
}

fn assert_same_log(copy: &Log, original: &Log) {
    assert_eq!(copy.head(), original.head());
    let all =
        |log: &Log| serde_json::to_string(&log.read_all_as_stored(0, usize::MAX).unwrap()).unwrap();
    assert_eq!(all(copy), all(original));
    assert!(copy.verify(&mut |_| {}).unwrap().ok);
}

#[test]
fn a_data_directory_copied_while_open_holds_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let crashed = dir.path().join("crashed");
    let stream = Uuid::new_v4();
    let log = open(&live);
    append_commands(&log, stream, 200);

    copy_dir(&live, &crashed);
    let without_journal = dir.path().join("without-journal");
    copy_dir(&live, &without_journal);
    std::fs::remove_file(without_journal.join("journal")).unwrap();

    let copy = open(&crashed);
    assert_same_log(&copy, &log);
    assert_eq!(copy.stream_version(stream).unwrap(), 400);
    // sled had not written these groups out: only the journal had them.
    assert!(open(&without_journal).head().last_seq < 400);

    let next = copy
        .append_blocking(request_n(stream, ExpectedVersion::Exactly(400), 1))
        .unwrap();
    assert_eq!(next.events[0].seq, 401);
}

#[test]
fn a_torn_frame_at_the_end_of_the_journal_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let crashed = dir.path().join("crashed");
    let log = open(&live);
    append_commands(&log, Uuid::new_v4(), 5);
    copy_dir(&live, &crashed);

    // Half of a frame header: a group that was being written, never acknowledged.
    let whole = std::fs::read(crashed.join("journal")).unwrap();
    let end = frames_end(&whole);
    let mut torn = whole.clone();
    torn[end..end + 20].copy_from_slice(&whole[..20]);
    std::fs::write(crashed.join("journal"), torn).unwrap();
    let copy = open(&crashed);
    assert_same_log(&copy, &log);

    // A whole frame with one byte changed is torn too.
    drop(copy);
    let mut damaged = whole.clone();
    damaged[end - 1] ^= 0x40;
    let again = dir.path().join("again");
    copy_dir(&live, &again);
    std::fs::write(again.join("journal"), damaged).unwrap();
    let copy = open(&again);
    assert_eq!(copy.head().last_seq, log.head().last_seq - 2);
    assert!(copy.verify(&mut |_| {}).unwrap().ok);
}

#[test]
fn checkpoints_keep_the_journal_small_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let options = LogOptions {
        journal_checkpoint_bytes: 8 * 1024,
        ..LogOptions::default()
    };
    let log = Log::open(&live, options.clone()).unwrap();
    let stream = Uuid::new_v4();
    let mut largest = 0;
    for _ in 0..50 {
        append_commands(&log, stream, 10);
        largest = largest.max(journal_len(&live));
    }
    // One checkpoint's worth and the group that crossed it, in steps of
    // one checkpoint's worth: the file is written over, not grown.
    assert!(largest <= 16 * 1024, "the journal grew to {largest} bytes");

    let crashed = dir.path().join("crashed");
    copy_dir(&live, &crashed);
    let copy = Log::open(&crashed, options).unwrap();
    assert_same_log(&copy, &log);
    assert_eq!(copy.stream_version(stream).unwrap(), 1000);
}

#[test]
fn a_journal_that_does_not_continue_the_store_stops_appends_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let log_b = open(&b);
    append_commands(&log_b, Uuid::new_v4(), 3);
    drop(log_b);
    let log_a = open(&a);
    append_commands(&log_a, Uuid::new_v4(), 5);
    // b's store (seqs 1 to 6) with a's journal: its seq 7 links to a's chain.
    let other = dir.path().join("other");
    copy_dir(&a, &other);
    let foreign = std::fs::read(other.join("journal")).unwrap();
    std::fs::write(b.join("journal"), &foreign).unwrap();

    let log_b = open(&b);
    match log_b.append_blocking(request_n(Uuid::new_v4(), ExpectedVersion::Any, 1)) {
        Err(stocktake_log::AppendError::Storage(LogError::WriterFailed { reason })) => {
            assert!(reason.contains("journal"), "{reason}");
        }
        other => panic!("expected appends to be refused, got {other:?}"),
    }
    assert_eq!(log_b.head().last_seq, 6);
    drop(log_b);
    assert_eq!(std::fs::read(b.join("journal")).unwrap(), foreign);
}

#[test]
fn events_the_store_holds_past_its_head_record_are_cut_at_open() {
    // What a power cut can leave: sled wrote part of a group on its own,
    // the journal never got it to disk, and nobody was told it was written.
    let dir = tempfile::tempdir().unwrap();
    let stream = Uuid::new_v4();
    {
        let log = open(dir.path());
        append_commands(&log, stream, 5);
    }
    {
        let db = crate::support::open_sled(dir.path());
        // The last command's two events are one group, stored under the first's seq.
        let last = db.get(event_key(9)).unwrap().unwrap();
        db.insert(event_key(11), last.clone()).unwrap();
        db.insert(event_key(13), last).unwrap();
        db.flush().unwrap();
    }
    let log = open(dir.path());
    assert_eq!(log.head().last_seq, 10);
    assert!(log.verify(&mut |_| {}).unwrap().ok);
    let next = log
        .append_blocking(request_n(stream, ExpectedVersion::Exactly(10), 1))
        .unwrap();
    assert_eq!(next.events[0].seq, 11);
    assert_eq!(log.read_all_as_stored(10, 10).unwrap().len(), 1);
}

fn event_key(seq: u64) -> Vec<u8> {
    let mut key = vec![b'E'];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

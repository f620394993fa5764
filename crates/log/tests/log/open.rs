use stocktake_log::{ExpectedVersion, Log, LogError, LogOptions};
use uuid::Uuid;

use crate::support::{open, request_n};

#[test]
fn a_second_open_of_the_same_directory_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = open(&data);
    match Log::open(&data, LogOptions::default()) {
        Err(e @ LogError::Locked { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&data.display().to_string()), "{message}");
            assert!(
                message.contains(&format!("process {}", std::process::id())),
                "{message}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(log);
    // Released with the last handle.
    open(&data);
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let _log = open(&data);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn everything_acknowledged_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let stream = Uuid::new_v4();
    let (head, events) = {
        let log = open(dir.path());
        for _ in 0..10 {
            log.append_blocking(request_n(stream, ExpectedVersion::Any, 3))
                .unwrap();
        }
        log.flush().unwrap();
        (log.head(), log.read_all_as_stored(0, 1000).unwrap())
    };
    let log = open(dir.path());
    assert_eq!(log.head(), head);
    assert_eq!(log.stream_version(stream).unwrap(), 30);
    let again = log.read_all_as_stored(0, 1000).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&events).unwrap()
    );
    let next = log
        .append_blocking(request_n(stream, ExpectedVersion::Exactly(30), 1))
        .unwrap();
    assert_eq!(next.events[0].seq, 31);
    assert!(log.verify(&mut |_| {}).unwrap().ok);
    assert!(log.size_on_disk().unwrap() > 0);
}

#[test]
fn a_directory_holding_another_sled_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = crate::support::open_sled(dir.path());
        db.insert(b"something", b"else").unwrap();
        db.flush().unwrap();
    }
    match Log::open(dir.path(), LogOptions::default()) {
        Err(LogError::Format { reason, .. }) => {
            assert!(reason.contains("not a Stocktake event log"), "{reason}")
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn a_log_of_format_2_opens_reads_and_is_marked_format_3() {
    let dir = tempfile::tempdir().unwrap();
    let stream = uuid::Uuid::new_v4();
    {
        let log = crate::support::open(dir.path());
        for _ in 0..5 {
            log.append_blocking(crate::support::request_n(
                stream,
                stocktake_log::ExpectedVersion::Any,
                1,
            ))
            .unwrap();
        }
    }
    // Format 2 stored every event under its own key, as a log of lone appends still is.
    {
        let db = crate::support::open_sled(dir.path());
        assert_eq!(&*db.get(b"Mformat").unwrap().unwrap(), b"stocktake-log/3");
        db.insert(b"Mformat", b"stocktake-log/2".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    {
        let log = crate::support::open(dir.path());
        assert_eq!(log.head().last_seq, 5);
        assert!(log.verify(&mut |_| {}).unwrap().ok);
        log.append_blocking(crate::support::request_n(
            stream,
            stocktake_log::ExpectedVersion::Exactly(5),
            3,
        ))
        .unwrap();
        assert_eq!(log.read_all_as_stored(0, 100).unwrap().len(), 8);
    }
    let db = crate::support::open_sled(dir.path());
    assert_eq!(&*db.get(b"Mformat").unwrap().unwrap(), b"stocktake-log/3");
}

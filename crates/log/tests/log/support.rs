//! Builders shared by the integration tests.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use stocktake_log::{AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef};
use uuid::Uuid;

pub fn open(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).expect("open the log")
}

pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

pub fn event(event_type: &str, data: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        recorded_at: at(0),
        effective_at: at(0),
        actor: "director@council.example".to_owned(),
        correlation_id: Uuid::new_v4(),
        data: RawValue::from_string(data.to_owned()).unwrap(),
    }
}

pub fn request(stream_id: Uuid, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream: StreamRef {
            stream_type: "action".to_owned(),
            stream_id,
        },
        expected_version: expected,
        events,
        command_id: Uuid::new_v4(),
        request_digest: *blake3::hash(stream_id.as_bytes()).as_bytes(),
    }
}

/// A request of `n` events of ~100-byte payloads.
pub fn request_n(stream_id: Uuid, expected: ExpectedVersion, n: usize) -> AppendRequest {
    let events = (0..n)
        .map(|i| {
            event(
                "ActionStatusChanged",
                &format!(r#"{{"status":"in_progress","note":"step {i}","rag":"amber"}}"#),
            )
        })
        .collect();
    request(stream_id, expected, events)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Copies a data directory file by file, as a crash would leave it: whatever
/// the files hold right now (the page cache), with nothing flushed first.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// sled itself on a data directory, to change its store behind the log's
/// back. sled's I/O threads can hold its file lock a moment after a `Log`
/// (or a `Db`) is dropped, so this waits for it as `Log::open` does.
pub fn open_sled(data_dir: &Path) -> sled::Db {
    let config = sled::Config::new()
        .path(data_dir.join("sled"))
        .flush_every_ms(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => return result.expect("open sled"),
        }
    }
}

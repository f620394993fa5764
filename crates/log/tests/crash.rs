//! Crash recovery, in the manner of sled's own `tests/test_crash_recovery.rs`:
//! this binary re-executes itself as a child process (selected by an
//! environment variable). The child appends under concurrent load and
//! prints every acknowledged event on stdout, one line per event, only
//! after its append has returned. The parent SIGKILLs it after a random
//! number of acknowledgements (sometimes before the first, i.e. during open
//! and recovery), reopens the log, and checks that every acknowledged event
//! is there with the same seq and event id, that retried commands return
//! their original seqs, and that `verify` passes.
//!
//! Killing after a number of acknowledgements rather than after a time
//! keeps the test independent of the machine's speed. Every other cycle the
//! child checkpoints its journal every few kilobytes, so that kills also
//! land while sled is being made durable and the journal emptied.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use rand::Rng;
use serde_json::value::RawValue;
use stocktake_log::{
    AppendError, AppendRequest, ExpectedVersion, Log, LogOptions, NewEvent, StreamRef,
};
use uuid::Uuid;

const CHILD_ENV: &str = "STOCKTAKE_LOG_CRASH_CHILD";
const CHECKPOINT_ENV: &str = "STOCKTAKE_LOG_CRASH_CHECKPOINT_BYTES";
/// About every ten groups of this test's appends.
const SMALL_CHECKPOINT_BYTES: u64 = 8 * 1024;
const CYCLES: usize = 24;
const MAX_ACKS_BEFORE_KILL: usize = 300;
const APPENDERS: usize = 16;

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("crash_recovery: test");
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"crash_recovery".contains(f.as_str())) {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return;
    }
    println!("\nrunning 1 test");
    let start = std::time::Instant::now();
    let (events, commands) = crash_recovery();
    println!("test crash_recovery ... ok ({CYCLES} kills, {events} events acknowledged, {commands} commands retried)");
    println!(
        "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        start.elapsed().as_secs_f64()
    );
}

/// One acknowledged event as the child reported it.
#[derive(Debug, Clone, Copy)]
struct Ack {
    seq: u64,
    event_id: Uuid,
    command_id: Uuid,
}

fn crash_recovery() -> (usize, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut acked: HashMap<u64, Ack> = HashMap::new();
    let mut retried = 0;
    let mut rng = rand::rng();
    for cycle in 0..CYCLES {
        let kill_after = if rng.random_bool(0.1) {
            0
        } else {
            rng.random_range(1..=MAX_ACKS_BEFORE_KILL)
        };
        for ack in run_and_kill(&data, kill_after, cycle) {
            if let Some(earlier) = acked.insert(ack.seq, ack) {
                assert_eq!(
                    earlier.event_id, ack.event_id,
                    "seq {} was acknowledged twice",
                    ack.seq
                );
            }
        }
        retried += check_after_restart(&data, &acked, &mut rng, cycle);
    }
    (acked.len(), retried)
}

/// Runs a child until it has acknowledged `kill_after` events, then
/// SIGKILLs it. Returns every complete line it printed.
fn run_and_kill(data: &Path, kill_after: usize, cycle: usize) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("own path");
    let checkpoint_bytes = if cycle % 2 == 0 {
        SMALL_CHECKPOINT_BYTES
    } else {
        LogOptions::default().journal_checkpoint_bytes
    };
    let mut child = Command::new(exe)
        .env(CHILD_ENV, data)
        .env(CHECKPOINT_ENV, checkpoint_bytes.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // A line cut short by the kill has no newline and is not an ack.
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.ends_with('\n') && tx.send(parse_ack(line.trim_end())).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut acks = Vec::new();
    while acks.len() < kill_after {
        match rx.recv() {
            Ok(ack) => acks.push(ack),
            Err(_) => {
                let status = child.wait().expect("wait for the child");
                panic!(
                    "cycle {cycle}: the child exited by itself ({status}) after {} acks",
                    acks.len()
                );
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("wait for the child");
    assert!(!status.success(), "cycle {cycle}: the child was not killed");
    reader.join().expect("reader thread");
    acks.extend(rx.try_iter());
    acks
}

fn parse_ack(line: &str) -> Ack {
    let mut parts = line.split(' ');
    let mut next = || {
        parts
            .next()
            .unwrap_or_else(|| panic!("malformed child line {line:?}"))
    };
    Ack {
        seq: next().parse().expect("seq"),
        event_id: next().parse().expect("event id"),
        command_id: next().parse().expect("command id"),
    }
}

fn check_after_restart(
    data: &Path,
    acked: &HashMap<u64, Ack>,
    rng: &mut impl Rng,
    cycle: usize,
) -> usize {
    let log = Log::open(data, LogOptions::default())
        .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
    let report = log.verify(&mut |_| {}).expect("verify runs");
    assert!(
        report.ok,
        "cycle {cycle}: verify failed after a crash: {report:?}"
    );

    let stored: HashMap<u64, Uuid> = log
        .iter_all(0)
        .map(|e| e.expect("readable"))
        .map(|e| (e.seq, e.event_id))
        .collect();
    assert_eq!(stored.len() as u64, log.head().last_seq);
    for ack in acked.values() {
        assert_eq!(
            stored.get(&ack.seq),
            Some(&ack.event_id),
            "cycle {cycle}: acknowledged event {} ({}) is not in the log",
            ack.seq,
            ack.event_id
        );
    }

    // Retrying an acknowledged command after the crash returns its seqs.
    let sample: Vec<&Ack> = acked
        .values()
        .filter(|_| rng.random_bool(0.02))
        .take(10)
        .collect();
    for ack in &sample {
        let outcome = log
            .append_blocking(retry_of(ack.command_id))
            .unwrap_or_else(|e| panic!("cycle {cycle}: retry of {} failed: {e}", ack.command_id));
        assert!(outcome.duplicate, "cycle {cycle}: a retry wrote again");
        assert!(outcome
            .events
            .iter()
            .any(|e| e.seq == ack.seq && e.event_id == ack.event_id));
    }
    sample.len()
}

/// The child's requests are a function of the command id, so the parent
/// can reproduce one for a retry.
fn digest(command_id: Uuid) -> [u8; 32] {
    *blake3::hash(command_id.as_bytes()).as_bytes()
}

fn retry_of(command_id: Uuid) -> AppendRequest {
    AppendRequest {
        stream: StreamRef {
            stream_type: "action".into(),
            stream_id: Uuid::nil(),
        },
        expected_version: ExpectedVersion::Any,
        events: vec![new_event(0)],
        command_id,
        request_digest: digest(command_id),
    }
}

fn new_event(i: usize) -> NewEvent {
    let now = chrono::Utc::now();
    let data = format!(
        r#"{{"status":"in_progress","note":"crash test event {i}","owner":"Head of Service","rag":"amber"}}"#
    );
    NewEvent {
        event_id: Uuid::new_v4(),
        event_type: "ActionStatusChanged".into(),
        schema_version: 1,
        recorded_at: now,
        effective_at: now,
        actor: "crash-test".into(),
        correlation_id: Uuid::new_v4(),
        data: RawValue::from_string(data).expect("valid JSON"),
    }
}

/// Appends forever from many tasks: new streams, shared streams with
/// expected versions (and so conflicts), multi-event commands.
fn child(dir: &Path) {
    let options = LogOptions {
        journal_checkpoint_bytes: std::env::var(CHECKPOINT_ENV)
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(SMALL_CHECKPOINT_BYTES),
        ..LogOptions::default()
    };
    let log = Log::open(dir, options).expect("child: open");
    let shared_streams: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..APPENDERS)
            .map(|task| {
                let log = log.clone();
                let shared_streams = shared_streams.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let (stream_id, expected) = if task % 2 == 0 {
                            let s = shared_streams[(task + i) % shared_streams.len()];
                            (
                                s,
                                ExpectedVersion::Exactly(log.stream_version(s).expect("version")),
                            )
                        } else {
                            (Uuid::new_v4(), ExpectedVersion::Exactly(0))
                        };
                        let command_id = Uuid::new_v4();
                        let request = AppendRequest {
                            stream: StreamRef {
                                stream_type: "action".into(),
                                stream_id,
                            },
                            expected_version: expected,
                            events: (0..1 + i % 3).map(new_event).collect(),
                            command_id,
                            request_digest: digest(command_id),
                        };
                        match log.append(request).await {
                            Ok(outcome) => {
                                let mut out = std::io::stdout().lock();
                                for e in &outcome.events {
                                    writeln!(out, "{} {} {}", e.seq, e.event_id, command_id)
                                        .expect("stdout");
                                }
                                out.flush().expect("stdout");
                            }
                            Err(AppendError::Conflict { .. }) => {}
                            Err(e) => panic!("child: append failed: {e}"),
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("appender task");
        }
    });
}

//! The import boundary: whatever file a user hands to `stocktake import`, the log imports it
//! whole or refuses it with a line number, never panics, and a refused file leaves the log
//! empty and usable.
//!
//! The same boundary is fuzzed without limits by `fuzz/` (target `import`); this keeps a cheap,
//! deterministic slice of it in every `cargo test`.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::value::RawValue;
use stocktake_log::{
    AppendRequest, ExpectedVersion, ImportError, Log, LogOptions, NewEvent, StreamRef,
};
use uuid::Uuid;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_530_000_000 + secs, 0).unwrap()
}

/// A small but varied export: three streams, commands of one and of two events, text that
/// needs escaping.
fn good_export() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let streams = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
        for i in 0..8u64 {
            let stream = streams[(i % 3) as usize];
            let events = (0..1 + i % 2)
                .map(|j| NewEvent {
                    event_id: Uuid::from_u128(0x100 + u128::from(i * 2 + j)),
                    event_type: if j == 0 {
                        "ActionAdded"
                    } else {
                        "ProgressRecorded"
                    }
                    .into(),
                    schema_version: 1,
                    recorded_at: at(i as i64 * 60),
                    effective_at: at(i as i64 * 30),
                    actor: "programme \"director\" é".into(),
                    correlation_id: Uuid::from_u128(0x200 + u128::from(i)),
                    data: RawValue::from_string(format!(r#"{{"n":{i},"note":"line\nbreak"}}"#))
                        .unwrap(),
                })
                .collect();
            log.append_blocking(AppendRequest {
                stream: StreamRef {
                    stream_type: ["plan", "action", "measure"][(i % 3) as usize].into(),
                    stream_id: stream,
                },
                expected_version: ExpectedVersion::Any,
                events,
                command_id: Uuid::from_u128(0x300 + u128::from(i)),
                request_digest: [0; 32],
            })
            .unwrap();
        }
        let mut out = Vec::new();
        log.export(&mut out, &mut |_| {}).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

/// One log reused across cases while it stays empty (a refused import must leave it so); a
/// fresh one after an import that succeeded. Opening a log is the slow part.
struct Target {
    _temp: tempfile::TempDir,
    root: PathBuf,
    opened: u64,
    log: Option<Log>,
}

fn target() -> std::sync::MutexGuard<'static, Target> {
    static TARGET: OnceLock<Mutex<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let temp = tempfile::tempdir().unwrap();
            let root = temp.path().to_owned();
            Mutex::new(Target {
                _temp: temp,
                root,
                opened: 0,
                log: None,
            })
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl Target {
    fn empty_log(&mut self) -> Log {
        if let Some(log) = &self.log {
            if log.head().last_seq == 0 {
                return log.clone();
            }
        }
        self.log = None;
        self.opened += 1;
        let log = Log::open(
            self.root.join(self.opened.to_string()),
            LogOptions::default(),
        )
        .expect("a fresh log opens");
        self.log = Some(log.clone());
        log
    }
}

/// Imports `file` into an empty log and checks the outcome either way.
fn import_checked(file: &[u8]) -> Result<Result<u64, String>, TestCaseError> {
    let mut target = target();
    let log = target.empty_log();
    match log.import(&mut &file[..], &mut |_| {}) {
        Ok(head) => {
            prop_assert_eq!(&log.head(), &head);
            let report = log.verify(&mut |_| {}).unwrap();
            prop_assert!(
                report.ok,
                "an accepted import does not verify: {:?}",
                report
            );
            let mut out = Vec::new();
            log.export(&mut out, &mut |_| {}).unwrap();
            let text = String::from_utf8(out).unwrap();
            let input = std::str::from_utf8(file).expect("an accepted file is UTF-8");
            let lines: Vec<&str> = input
                .lines()
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            prop_assert_eq!(lines, text.lines().collect::<Vec<_>>());
            Ok(Ok(head.last_seq))
        }
        Err(ImportError::Line { line, reason }) => {
            prop_assert_eq!(log.head().last_seq, 0, "a refused import left a head");
            prop_assert!(
                log.read_all(0, 1).unwrap().is_empty(),
                "a refused import left events"
            );
            prop_assert!(line >= 1);
            Ok(Err(reason))
        }
        Err(other) => Err(TestCaseError::fail(format!("not a line refusal: {other}"))),
    }
}

fn join(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// Lines that look a little like envelopes, and lines that do not.
fn arbitrary_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[{}\\[\\]\":,0-9a-z_ ]{0,80}",
        prop::sample::select(good_export().to_vec()),
        (
            prop::sample::select(good_export().to_vec()),
            any::<prop::sample::Index>(),
            "\\PC{0,4}"
        )
            .prop_map(|(line, at, insert)| {
                let mut chars: Vec<char> = line.chars().collect();
                let i = at.index(chars.len() + 1);
                chars.splice(i..i, insert.chars());
                chars.into_iter().collect()
            }),
    ]
}

/// A good export, changed in one of the ways files get damaged.
fn damaged_export() -> impl Strategy<Value = Vec<u8>> {
    let n = good_export().len();
    (
        0..7u8,
        0..n,
        0..n,
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(move |(how, a, b, at, byte)| {
            let mut lines = good_export().to_vec();
            match how {
                0 => {
                    lines.remove(a);
                }
                1 => lines.swap(a, b),
                2 => {
                    let line = lines[a].clone();
                    lines.insert(b, line);
                }
                3 => lines.truncate(a),
                4 => lines[a] = lines[a].replace(':', ": "),
                5 => {
                    let mut file = join(&lines);
                    let i = at.index(file.len());
                    file[i] ^= byte | 1;
                    return file;
                }
                _ => {
                    let mut file = join(&lines);
                    file.truncate(at.index(file.len()));
                    return file;
                }
            }
            join(&lines)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_lines_are_refused_or_imported_never_panic(lines in prop::collection::vec(arbitrary_line(), 0..6)) {
        let _imported_or_refused = import_checked(&join(&lines))?;
    }

    #[test]
    fn arbitrary_bytes_are_refused_or_imported(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _imported_or_refused = import_checked(&bytes)?;
    }

    #[test]
    fn a_damaged_export_is_refused_whole_or_imported_exactly(file in damaged_export()) {
        let _imported_or_refused = import_checked(&file)?;
    }
}

#[test]
fn the_good_export_imports_with_either_line_ending() {
    let lines = good_export();
    assert_eq!(
        import_checked(&join(lines)).unwrap(),
        Ok(lines.len() as u64)
    );
    let crlf: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    assert_eq!(import_checked(&crlf).unwrap(), Ok(lines.len() as u64));
}

#[test]
fn after_a_refused_import_the_same_log_takes_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let mut lines = good_export().to_vec();
    lines.swap(0, 1);
    let refused = log.import(&mut &join(&lines)[..], &mut |_| {});
    assert!(
        matches!(refused, Err(ImportError::Line { line: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(log.head().last_seq, 0);
    let head = log
        .import(&mut &join(good_export())[..], &mut |_| {})
        .unwrap();
    assert_eq!(head.last_seq, good_export().len() as u64);
}

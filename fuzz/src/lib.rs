//! The three fuzz targets' bodies, kept here so each target file is one line and the checks can
//! be read (and run on a single input) without libFuzzer.
//!
//! Each function takes arbitrary bytes and panics only when Stocktake breaks a promise:
//! - [`command`]: a command body never panics the parser or a decider, and every event a decider
//!   accepts survives the trip through storage (`payload_json` then `Event::decode`);
//! - [`envelope`]: a stored event line never panics the domain upcaster or envelope decoding;
//! - [`import`]: an export file is imported or refused with a typed error, never a panic, and a
//!   refused file leaves the log empty; an accepted one exports back to the same lines.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use stocktake_domain::memory::{CommandMeta, MemoryStore};
use stocktake_domain::{Command, Event, TimeInput};
use stocktake_log::{upcast_to_current, ImportError, Log, LogOptions, StoredEvent};
use stocktake_projections::DomainUpcaster;
use uuid::Uuid;

pub const PLAN: &str = "0191f3b4-7a00-7000-8000-000000000001";
pub const AREA: &str = "0191f3b4-7a00-7000-8000-0000000000a4";
pub const FORUM: &str = "0191f3b4-7a00-7000-8000-0000000000b1";
pub const ACTION: &str = "0191f3b4-7a00-7000-8000-0000000000c1";
pub const COMPLETED_ACTION: &str = "0191f3b4-7a00-7000-8000-0000000000c2";
pub const EVIDENCE: &str = "0191f3b4-7a00-7000-8000-0000000000e2";
pub const MEASURE: &str = "0191f3b4-7a00-7000-8000-0000000000d1";
pub const VISIT: &str = "0191f3b4-7a00-7000-8000-0000000000f3";
pub const FINDING: &str = "0191f3b4-7a00-7000-8000-0000000000f9";

/// Commands in one input: enough for a short story, few enough to stay fast.
const MAX_COMMANDS: usize = 16;

/// The fixed history every command input is decided against: the ids of docs/EVENTS.md, so
/// its examples (the seed corpus) name streams that exist.
pub fn setup_commands() -> Vec<Value> {
    vec![
        json!({"type": "create_plan", "plan_id": PLAN, "title": "Children's services improvement plan", "organisation": "London Borough of Croydon"}),
        json!({"type": "add_priority_area", "plan_id": PLAN, "area_id": AREA, "number": 4, "title": "Recruitment and retention of staff", "lead": "Head of Workforce"}),
        json!({"type": "establish_forum", "plan_id": PLAN, "forum_id": FORUM, "kind": "improvement_board", "name": "Improvement board"}),
        json!({"type": "add_action", "action_id": ACTION, "plan_id": PLAN, "area_id": AREA, "title": "Recruit newly qualified social workers", "owner": "Head of Workforce", "start_on": "2018-06-01", "due_on": "2018-10-31"}),
        json!({"type": "change_action_status", "action_id": ACTION, "status": "in_progress", "rag": "amber"}),
        json!({"type": "add_action", "action_id": COMPLETED_ACTION, "plan_id": PLAN, "area_id": AREA, "title": "Caseload review", "owner": "Head of Service", "due_on": "2018-09-30"}),
        json!({"type": "change_action_status", "action_id": COMPLETED_ACTION, "status": "in_progress", "rag": "green"}),
        json!({"type": "attach_evidence", "action_id": COMPLETED_ACTION, "evidence_id": EVIDENCE, "title": "Caseload audit", "reference": "Audit report, September 2018"}),
        json!({"type": "change_action_status", "action_id": COMPLETED_ACTION, "status": "completed", "note": "Review done"}),
        json!({"type": "define_measure", "measure_id": MEASURE, "plan_id": PLAN, "name": "Average social worker caseload", "unit": "cases per worker", "direction": "lower_is_better", "target": 16.0, "tolerance": 2.0}),
        json!({"type": "record_visit", "visit_id": VISIT, "plan_id": PLAN, "number": 3, "started_on": "2018-07-10", "ended_on": "2018-07-11", "theme": "Help and protection"}),
        json!({"type": "record_finding", "visit_id": VISIT, "finding_id": FINDING, "kind": "area_for_improvement", "text": "The pace of change has been too slow"}),
    ]
}

fn meta(recorded_at: &str, effective_at: Option<TimeInput>) -> CommandMeta {
    CommandMeta {
        actor: "programme-director".to_owned(),
        recorded_at: recorded_at.parse::<DateTime<Utc>>().expect("a fixed time"),
        effective_at,
    }
}

/// Ids made by the store: deterministic, and never equal to the fixed ones.
fn id_source() -> impl FnMut() -> Uuid {
    let mut next: u128 = 1 << 100;
    move || {
        next += 1;
        Uuid::from_u128(next)
    }
}

/// The store after [`setup_commands`], built once per process.
pub fn setup_store() -> &'static MemoryStore {
    static STORE: OnceLock<MemoryStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut store = MemoryStore::default();
        let mut ids = id_source();
        for json in setup_commands() {
            let command: Command = serde_json::from_value(json).expect("setup commands parse");
            store
                .execute(command, &meta("2018-09-17T10:00:00Z", None), &mut ids)
                .expect("setup commands are accepted");
        }
        store
    })
}

/// Reads a command the way the gateway does: `effective_at` and `expected_version` belong to
/// the envelope, `type` picks the command, the other fields are the command's own.
fn parse_like_gateway(value: &Value) -> Option<(Command, Option<TimeInput>)> {
    let Value::Object(fields) = value else {
        return None;
    };
    let mut fields = fields.clone();
    let effective_at = match fields.remove("effective_at") {
        Some(Value::String(raw)) => Some(raw.parse::<TimeInput>().ok()?),
        None | Some(Value::Null) => None,
        Some(_) => return None,
    };
    fields.remove("expected_version");
    let Some(Value::String(name)) = fields.remove("type") else {
        return None;
    };
    let command = Command::deserialize_named(&name, Value::Object(fields)).ok()??;
    Some((command, effective_at))
}

/// Target (a): arbitrary bytes as one command body, or a JSON array of up to 16 of them,
/// decided in order against a copy of [`setup_store`].
pub fn command(data: &[u8]) {
    let _ = decide_commands(data);
}

fn decide_commands(data: &[u8]) -> Option<()> {
    let value: Value = serde_json::from_slice(data).ok()?;
    let bodies = match value {
        Value::Array(items) => items.into_iter().take(MAX_COMMANDS).collect(),
        one => vec![one],
    };
    let mut store = setup_store().clone();
    let mut ids = id_source();
    for body in &bodies {
        // The plain serde reading must never panic either, and must agree with the gateway's.
        let direct = serde_json::from_value::<Command>(body.clone()).ok();
        let Some((command, effective_at)) = parse_like_gateway(body) else {
            continue;
        };
        if let (Some(direct), false) = (&direct, has_envelope_fields(body)) {
            assert_eq!(direct, &command, "two readings of one command disagree");
        }
        // A command that parses also serializes, and reads back as itself.
        let text = serde_json::to_string(&command).expect("a parsed command serializes");
        let again: Command = serde_json::from_str(&text).expect("a serialized command parses");
        assert_eq!(again, command, "a command does not round-trip: {text}");

        let meta = meta("2019-06-01T12:00:00Z", effective_at);
        if let Ok(envelopes) = store.execute(command, &meta, &mut ids) {
            for envelope in envelopes {
                let payload = envelope.event.payload_json();
                let decoded =
                    Event::decode(envelope.event.type_name(), &payload).unwrap_or_else(|e| {
                        panic!("an accepted event does not read back: {e}\n{payload}")
                    });
                assert_eq!(decoded, envelope.event, "an event does not round-trip");
            }
        }
    }
    Some(())
}

fn has_envelope_fields(body: &Value) -> bool {
    body.get("effective_at").is_some() || body.get("expected_version").is_some()
}

/// Target (b): arbitrary bytes as one stored event, through the domain upcaster (as the log
/// applies it on every read) and then envelope decoding.
pub fn envelope(data: &[u8]) {
    let _ = read_envelope(data);
}

fn read_envelope(data: &[u8]) -> Option<()> {
    let stored: StoredEvent = serde_json::from_slice(data).ok()?;
    // The log's own loop, as every read applies it.
    let stored = upcast_to_current(&DomainUpcaster, stored).ok()?;
    let envelope = stocktake_projections::envelope(&stored).ok()?;
    // What decodes re-encodes, and reads back as the same event.
    let payload = envelope.event.payload_json();
    let decoded = Event::decode(envelope.event.type_name(), &payload)
        .unwrap_or_else(|e| panic!("a decoded event does not read back: {e}\n{payload}"));
    assert_eq!(decoded, envelope.event);
    Some(())
}

struct ImportLog {
    _temp: tempfile::TempDir,
    root: PathBuf,
    generation: u64,
    log: Option<Log>,
}

impl ImportLog {
    fn open(&mut self) -> Log {
        self.generation += 1;
        let dir = self.root.join(format!("log-{}", self.generation));
        Log::open(&dir, LogOptions::default()).expect("a fresh log opens")
    }

    /// The log, empty; a log that an import filled is replaced by a fresh one.
    fn empty(&mut self) -> Log {
        if let Some(log) = &self.log {
            if log.head().last_seq == 0 {
                return log.clone();
            }
            let dir = log.dir().to_owned();
            self.log = None;
            let _ = std::fs::remove_dir_all(dir);
        }
        let log = self.open();
        self.log = Some(log.clone());
        log
    }
}

/// One temporary directory per process, in memory where the machine has `/dev/shm`: a refused
/// import ends with a wipe and an fsync, which is what a fuzzer would otherwise wait for.
fn import_log() -> &'static Mutex<ImportLog> {
    static LOG: OnceLock<Mutex<ImportLog>> = OnceLock::new();
    LOG.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let temp = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("stocktake-fuzz-")
                .tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("stocktake-fuzz-").tempdir()
        }
        .expect("a temporary directory");
        let root = temp.path().to_owned();
        Mutex::new(ImportLog {
            _temp: temp,
            root,
            generation: 0,
            log: None,
        })
    })
}

/// Target (c): arbitrary bytes as an export file, imported into an empty log.
pub fn import(data: &[u8]) {
    let mut guard = import_log().lock().unwrap_or_else(|e| e.into_inner());
    let log = guard.empty();
    match log.import(&mut Cursor::new(data), &mut |_| {}) {
        Ok(head) => {
            assert_eq!(log.head(), head, "the published head is the imported one");
            let report = log.verify(&mut |_| {}).expect("verify runs");
            assert!(report.ok, "an accepted import does not verify: {report:?}");
            let mut out = Vec::new();
            log.export(&mut out, &mut |_| {}).expect("export runs");
            let text = String::from_utf8(out).expect("export writes UTF-8");
            let input = String::from_utf8(data.to_vec()).expect("an accepted file is UTF-8");
            let input_lines: Vec<&str> = input
                .lines()
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            let output_lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                input_lines, output_lines,
                "export differs from what was imported"
            );
        }
        Err(ImportError::Line { .. } | ImportError::NotEmpty { .. }) => {
            assert_eq!(
                log.head().last_seq,
                0,
                "a refused import left events behind"
            );
            assert!(
                log.read_all(0, 1).expect("reads work").is_empty(),
                "a refused import left readable events"
            );
        }
        Err(ImportError::Log(e)) => panic!("the log failed under an import: {e}"),
    }
}

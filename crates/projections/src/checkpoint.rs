//! Checkpoints: the read model's events up to a sequence number, saved so that a restart does
//! not replay the whole log. A checkpoint is only a cache: when its projection version is not
//! this build's, or it does not match the log, it is ignored and the model rebuilt.
//!
//! The file is JSON Lines and only ever grows, like the log it caches: a `Version` line, then
//! segments, each the entries folded since the previous segment followed by a `Mark` naming
//! the last sequence number and the log's hash of it. Entries never change once folded, so a
//! save writes only what is new. A save reads those entries from the log, which holds exactly
//! what the model folded, and never locks the read model: a save that held the model while
//! serializing stalled every reader, and every fold, for as long. A segment cut short by a
//! crash has no mark; a load stops at the last complete one and the next save writes over what
//! follows it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use stocktake_domain::StreamRef;
use stocktake_log::{Log, LogError, StoredEvent};
use uuid::Uuid;

use crate::decode::{self, DecodeFailure};
use crate::model::ReadModel;
use crate::timeline::Entry;

/// Bump whenever a fold or the checkpoint's shape changes: old checkpoints are then rebuilt.
pub const PROJECTION_VERSION: u32 = 2;

const FILE_NAME: &str = "checkpoint.jsonl";
/// Version 1 kept the whole model in one JSON document under this name.
const VERSION_1_FILE_NAME: &str = "checkpoint.json";

/// How many events a save reads from the log at a time.
const EVENTS_PER_READ: u64 = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("could not {action} the projection checkpoint {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write an entry to the projection checkpoint {}: {source}", path.display())]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("could not read the log for the projection checkpoint: {0}")]
    Log(#[from] LogError),
    #[error("could not read an event for the projection checkpoint: {0}")]
    Decode(#[from] DecodeFailure),
    #[error("the log ends at sequence number {last}, before the checkpoint's {upto}")]
    LogEndsBefore { upto: u64, last: u64 },
}

/// One line of the file, as written.
#[derive(Serialize)]
enum LineOut<'a> {
    Version(u32),
    Entry(StreamRef, StoredEntry<'a>),
    Mark { last_seq: u64, last_hash: &'a str },
}

/// An [`Entry`] written straight from the stored event: its payload is copied as the log holds
/// it (already upcast), not decoded and encoded again, which took a save at 1,000,000 events
/// from 2.75 s of CPU to 1.7 s; saves run whenever the log goes quiet, beside the reads being
/// served. The fold decoded the same payload already, and a load decodes it exactly as the
/// fold did, so it reads back as the `Entry` the fold made.
#[derive(Serialize)]
struct StoredEntry<'a> {
    seq: u64,
    stream_version: u64,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    effective_at: DateTime<Utc>,
    actor: &'a str,
    event: StoredPayload<'a>,
}

/// An [`Event`](stocktake_domain::Event) as it serializes: its type name beside its payload.
#[derive(Serialize)]
struct StoredPayload<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    data: Cow<'a, RawValue>,
}

impl<'a> StoredEntry<'a> {
    fn line(stored: &'a StoredEvent) -> Result<LineOut<'a>, DecodeFailure> {
        let stream = decode::stream_of(stored)?;
        // A log written before appends refused them may hold a payload with line breaks
        // between its tokens; copied, it would split this entry across lines of the file, and
        // a load stops at the first line it cannot read. Such a payload is written as the fold
        // decoded it.
        let data = if stored.data_on_one_line() {
            Cow::Borrowed(&*stored.data)
        } else {
            Cow::Owned(decode::envelope(stored)?.event.payload_raw())
        };
        Ok(LineOut::Entry(
            stream,
            StoredEntry {
                seq: stored.seq,
                stream_version: stored.stream_version,
                event_id: stored.event_id,
                recorded_at: stored.recorded_at,
                effective_at: stored.effective_at,
                actor: &stored.actor,
                event: StoredPayload {
                    event_type: &stored.event_type,
                    data,
                },
            },
        ))
    }
}

/// One line of the file, as read back.
// Each line is read into one value and consumed at once; boxing the entry would cost an
// allocation per event on every start.
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
enum LineIn {
    Version(u32),
    Entry(StreamRef, Entry),
    Mark { last_seq: u64, last_hash: String },
}

/// A checkpoint read back: the model and the hash it must match in the log.
#[derive(Debug)]
pub struct Loaded {
    pub model: ReadModel,
    pub last_hash: String,
    /// Where the last complete segment ends in the file; the next save appends from here.
    end: u64,
}

impl Loaded {
    /// The checkpoint's position, for [`Checkpoints::resume`] once it is known to match the log.
    pub fn position(&self) -> Saved {
        Saved {
            seq: self.model.last_seq(),
            end: self.end,
        }
    }
}

/// How far the file on disk goes: its last mark's sequence number and where that mark ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    seq: u64,
    end: u64,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The error of an I/O step, naming the file; the path is copied only if the step fails (a load
/// reads a line at a time).
fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CheckpointError + 'a {
    move |source| CheckpointError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Deletes the checkpoint (and one of an older version), so the next start rebuilds.
pub fn remove(dir: &Path) -> Result<(), CheckpointError> {
    for file in [path(dir), dir.join(VERSION_1_FILE_NAME)] {
        match fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error("remove", &file)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the checkpoint up to its last complete segment, if there is one of this build's
/// projection version. `lengths` is how many events each stream has in the log, as for
/// [`ReadModel::expecting`]: each timeline gets room for its whole history at once, rather
/// than moving it each time it outgrows its room while the entries are read.
pub fn load(dir: &Path, lengths: HashMap<Uuid, usize>) -> Result<Option<Loaded>, CheckpointError> {
    // A version 1 checkpoint is never read again.
    let _ = fs::remove_file(dir.join(VERSION_1_FILE_NAME));
    let file_path = path(dir);
    let file = match File::open(&file_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("open", &file_path)(e)),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut next_line = |line: &mut String| -> Result<Option<LineIn>, CheckpointError> {
        line.clear();
        let n = reader
            .read_line(line)
            .map_err(io_error("read", &file_path))?;
        // A line without its newline was cut short by a crash: the file ends before it.
        if n == 0 || !line.ends_with('\n') {
            return Ok(None);
        }
        Ok(serde_json::from_str(line).ok())
    };
    if !matches!(
        next_line(&mut line)?,
        Some(LineIn::Version(PROJECTION_VERSION))
    ) {
        return Ok(None);
    }
    let mut offset = line.len() as u64;
    let mut model = ReadModel::expecting(lengths);
    let mut segment: Vec<(StreamRef, Entry)> = Vec::new();
    let mut complete: Option<(String, u64)> = None;
    while let Some(parsed) = next_line(&mut line)? {
        offset += line.len() as u64;
        match parsed {
            LineIn::Entry(stream, entry) => segment.push((stream, entry)),
            LineIn::Mark {
                last_seq,
                last_hash,
            } => {
                let before = model.last_seq();
                let in_order = segment.iter().try_fold(before, |previous, (_, e)| {
                    (e.seq > previous).then_some(e.seq)
                });
                if in_order != Some(last_seq) {
                    break;
                }
                for (stream, entry) in segment.drain(..) {
                    model.apply_entry(stream, entry);
                }
                complete = Some((last_hash, offset));
            }
            LineIn::Version(_) => break,
        }
    }
    // Entries after the last mark belong to a segment that never finished; they are dropped.
    Ok(complete.map(|(last_hash, end)| Loaded {
        model,
        last_hash,
        end,
    }))
}

/// The checkpoint file of one read model, and how far it goes. Saves take turns.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    saved: Mutex<Option<Saved>>,
}

impl Checkpoints {
    /// No usable checkpoint: the first save writes a new file.
    pub fn new(dir: &Path) -> Self {
        Checkpoints {
            dir: dir.to_owned(),
            saved: Mutex::new(None),
        }
    }

    /// A checkpoint that was loaded and matches the log: saves append to it.
    pub fn resume(dir: &Path, saved: Saved) -> Self {
        Checkpoints {
            dir: dir.to_owned(),
            saved: Mutex::new(Some(saved)),
        }
    }

    /// The last sequence number on disk; 0 for none.
    pub fn saved_seq(&self) -> u64 {
        self.lock().map_or(0, |s| s.seq)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Saved>> {
        self.saved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Saves the entries of the events up to `upto`, marked with the log's hash of `upto`.
    pub fn save(&self, log: &Log, upto: u64) -> Result<(), CheckpointError> {
        let mut saved = self.lock();
        if saved.is_some_and(|s| s.seq >= upto) {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(io_error("create the directory of", &self.dir))?;
        let final_path = path(&self.dir);
        let temp_path = self.dir.join(format!("{FILE_NAME}.tmp"));
        // Append to the file on disk; if it has gone (deleted by hand), write a new one.
        let existing = match *saved {
            Some(s) => match OpenOptions::new().write(true).open(&final_path) {
                Ok(file) => Some((file, s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_error("open", &final_path)(e)),
            },
            None => None,
        };
        let appending = existing.is_some();
        let (mut file, from, mut end) = match existing {
            Some((mut file, s)) => {
                // Whatever follows the last mark is an unfinished segment: write over it.
                file.set_len(s.end)
                    .and_then(|()| file.seek(SeekFrom::Start(s.end)).map(|_| ()))
                    .map_err(io_error("truncate", &final_path))?;
                (file, s.seq, s.end)
            }
            None => (
                File::create(&temp_path).map_err(io_error("create", &temp_path))?,
                0,
                0,
            ),
        };
        let target = if appending {
            final_path.as_path()
        } else {
            temp_path.as_path()
        };
        let mut buffer = Vec::with_capacity(1 << 20);
        if !appending {
            write_line(&mut buffer, &LineOut::Version(PROJECTION_VERSION), target)?;
        }
        let mut after = from;
        let mut last_hash = String::new();
        while after < upto {
            let limit = usize::try_from((upto - after).min(EVENTS_PER_READ)).unwrap_or(usize::MAX);
            let page = log.read_all(after, limit)?;
            if page.is_empty() {
                return Err(CheckpointError::LogEndsBefore { upto, last: after });
            }
            for stored in page {
                after = stored.seq;
                write_line(&mut buffer, &StoredEntry::line(&stored)?, target)?;
                last_hash = stored.hash;
            }
            file.write_all(&buffer).map_err(io_error("write", target))?;
            end += buffer.len() as u64;
            buffer.clear();
        }
        write_line(
            &mut buffer,
            &LineOut::Mark {
                last_seq: upto,
                last_hash: &last_hash,
            },
            target,
        )?;
        file.write_all(&buffer).map_err(io_error("write", target))?;
        end += buffer.len() as u64;
        file.sync_all().map_err(io_error("sync", target))?;
        if !appending {
            fs::rename(&temp_path, &final_path).map_err(io_error("replace", &final_path))?;
            if let Ok(dir) = File::open(&self.dir) {
                dir.sync_all()
                    .map_err(io_error("sync the directory of", &final_path))?;
            }
        }
        *saved = Some(Saved { seq: upto, end });
        Ok(())
    }
}

fn write_line(
    buffer: &mut Vec<u8>,
    line: &LineOut<'_>,
    path: &Path,
) -> Result<(), CheckpointError> {
    serde_json::to_writer(&mut *buffer, line).map_err(|source| CheckpointError::Format {
        path: path.to_owned(),
        source,
    })?;
    buffer.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use stocktake_domain::events::{ActionAdded, CURRENT_SCHEMA_VERSION};
    use stocktake_domain::text::{Role, Title};
    use stocktake_domain::{ActionId, AreaId, Event, PlanId};

    /// A progress note as a log might hold it: fields in another order than this build writes
    /// them, spaces, and escapes in the text.
    fn stored(stream_type: &str) -> StoredEvent {
        let data = format!(
            r#"{{ "rag" : "amber", "note": "Caseloads \"down\" to 18 \u00e9", "action_id": "{}" }}"#,
            Uuid::from_u128(0xA)
        );
        stored_with(stream_type, "ProgressRecorded", data)
    }

    fn stored_with(stream_type: &str, event_type: &str, data: String) -> StoredEvent {
        let action_id = Uuid::from_u128(0xA);
        StoredEvent {
            seq: 7,
            event_id: Uuid::from_u128(0xE),
            stream_id: action_id,
            stream_type: stream_type.to_owned(),
            stream_version: 3,
            recorded_at: Utc.with_ymd_and_hms(2018, 7, 12, 10, 30, 0).unwrap(),
            effective_at: Utc.with_ymd_and_hms(2018, 7, 11, 0, 0, 0).unwrap(),
            actor: "Director of Children's Services".to_owned(),
            command_id: Uuid::from_u128(0xC),
            correlation_id: Uuid::from_u128(0xD),
            schema_version: CURRENT_SCHEMA_VERSION,
            event_type: event_type.to_owned(),
            data: RawValue::from_string(data).unwrap(),
            prev_hash: "00".repeat(32),
            hash: "11".repeat(32),
        }
    }

    /// Writes the stored event's line and reads it back as a load does: one line, one entry.
    fn assert_reads_back_as_the_folds_entry(stored: StoredEvent) {
        let mut buffer = Vec::new();
        let line = StoredEntry::line(&stored).unwrap();
        write_line(&mut buffer, &line, Path::new("checkpoint.jsonl")).unwrap();
        let text = String::from_utf8(buffer).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let Ok(LineIn::Entry(stream, entry)) = serde_json::from_str::<LineIn>(&text) else {
            panic!("not an entry line: {text}");
        };
        let folded = decode::entry(&stored, &mut decode::Actors::default()).unwrap();
        assert_eq!((stream, entry), folded);
    }

    #[test]
    fn an_entry_written_from_the_stored_payload_reads_back_as_the_entry_the_fold_made() {
        assert_reads_back_as_the_folds_entry(stored("action"));
    }

    #[test]
    fn a_payload_with_line_breaks_is_written_on_one_line() {
        let added = Event::from(ActionAdded {
            action_id: ActionId(Uuid::from_u128(0xA)),
            plan_id: PlanId(Uuid::from_u128(0xB)),
            area_id: AreaId(Uuid::from_u128(0xC)),
            title: Title::parse("Recruit permanent social workers").unwrap(),
            description: None,
            owner: Role::parse("Head of Workforce").unwrap(),
            start_on: None,
            due_on: chrono::NaiveDate::from_ymd_opt(2018, 3, 31).unwrap(),
            partner_contribution: None,
        });
        let compact: serde_json::Value = serde_json::from_str(&added.payload_json()).unwrap();
        let pretty = serde_json::to_string_pretty(&compact).unwrap();
        assert!(pretty.contains('\n'));
        assert_reads_back_as_the_folds_entry(stored_with("action", "ActionAdded", pretty));
    }

    #[test]
    fn a_stored_event_of_an_unknown_stream_type_is_refused_with_its_seq() {
        let Err(failure) = StoredEntry::line(&stored("board")) else {
            panic!("an unknown stream type was written");
        };
        assert_eq!(failure.seq, 7);
        assert!(failure.reason.contains("`board`"), "{}", failure.reason);
    }
}

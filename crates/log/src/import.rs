//! Import: rebuild a log from an export file, into an empty log only.
//!
//! Every line is checked as it is read: it must be exactly the line export
//! would write for its event, follow the previous line's seq, link to its
//! hash, hash to its own `hash`, and continue its stream. Checked lines are
//! encoded into large chunks that the writer inserts (on two threads) while
//! the next chunk is being checked. An "importing" marker goes down before
//! the first chunk and is removed with the final fsync; a refused
//! file, a vanished importer or a crash leaves the marker, and the log is
//! wiped back to empty (by the writer, or at the next open). Readers see
//! nothing until the import is complete, because the published head stays
//! at 0 until then.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver, Sender};
use std::sync::Arc;

use uuid::Uuid;

use crate::record::{self, Hash, GENESIS};
use crate::shared::{CommandSpan, Index, StreamInfo};
use crate::writer::{Control, ImportChunk, Msg};
use crate::{Head, ImportError, LogError, StoredEvent};

/// Events per batch handed to the writer.
const CHUNK_EVENTS: usize = 8192;

pub(crate) fn import(
    tx: &Sender<Msg>,
    input: &mut dyn BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<Head, ImportError> {
    let (ack_tx, ack_rx) = sync_channel(1);
    send(tx, Control::ImportBegin(ack_tx))?;
    ack_rx.recv().map_err(|_| LogError::Closed)??;

    let mut claim = Claim {
        tx,
        finished: false,
    };
    let head = Importer::default().run(&mut claim, input, progress)?;
    claim.finished = true;
    Ok(head)
}

fn send(tx: &Sender<Msg>, control: Control) -> Result<(), LogError> {
    tx.send(Msg::Control(control)).map_err(|_| LogError::Closed)
}

fn wait(rx: Receiver<Result<(), LogError>>) -> Result<(), LogError> {
    rx.recv().map_err(|_| LogError::Closed)?
}

/// The writer's import mode, released on every path: finished, or aborted
/// (which wipes what was written).
struct Claim<'a> {
    tx: &'a Sender<Msg>,
    finished: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (ack_tx, ack_rx) = sync_channel(1);
        let aborted = send(self.tx, Control::ImportAbort(ack_tx)).and_then(|()| wait(ack_rx));
        if let Err(e) = aborted {
            tracing::error!(error = %e, "could not discard a refused import; it will be discarded at the next open");
        }
    }
}

struct Importer {
    line_no: u64,
    expected: u64,
    prev: Hash,
    streams: HashMap<Uuid, StreamInfo>,
    /// The current command and its stream.
    command: Option<(Uuid, Uuid)>,
    index: Index,
    chunk: ImportChunk,
    in_flight: Option<Receiver<Result<(), LogError>>>,
}

impl Default for Importer {
    fn default() -> Self {
        Importer {
            line_no: 0,
            expected: 1,
            prev: GENESIS,
            streams: HashMap::new(),
            command: None,
            index: Index::default(),
            chunk: ImportChunk::default(),
            in_flight: None,
        }
    }
}

impl Importer {
    fn run(
        mut self,
        claim: &mut Claim<'_>,
        input: &mut dyn BufRead,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Head, ImportError> {
        let mut line = String::with_capacity(1024);
        let mut record = Vec::with_capacity(1024);
        loop {
            line.clear();
            let read = input.read_line(&mut line).map_err(|e| ImportError::Line {
                line: self.line_no + 1,
                reason: format!("could not be read: {e}"),
            })?;
            if read == 0 {
                break;
            }
            self.line_no += 1;
            let text = line
                .strip_suffix('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .unwrap_or(&line);
            let seq = self
                .accept(text, &mut record)
                .map_err(|reason| ImportError::Line {
                    line: self.line_no,
                    reason,
                })?;
            progress(seq);
            if self.chunk.len() >= CHUNK_EVENTS {
                self.ship(claim)?;
            }
        }
        self.ship(claim)?;
        if let Some(rx) = self.in_flight.take() {
            wait(rx)?;
        }
        let last_seq = self.expected - 1;
        let (ack_tx, ack_rx) = sync_channel(1);
        send(
            claim.tx,
            Control::ImportFinish {
                last_seq,
                hash: self.prev,
                index: self.index,
                ack: ack_tx,
            },
        )?;
        wait(ack_rx)?;
        Ok(Head {
            last_seq,
            head_hash: crate::record::to_hex(&self.prev),
        })
    }

    /// Hands the current batch to the writer once the previous one is in.
    fn ship(&mut self, claim: &Claim<'_>) -> Result<(), LogError> {
        if let Some(rx) = self.in_flight.take() {
            wait(rx)?;
        }
        let chunk = std::mem::take(&mut self.chunk);
        let (ack_tx, ack_rx) = sync_channel(1);
        send(claim.tx, Control::ImportChunk(chunk, ack_tx))?;
        self.in_flight = Some(ack_rx);
        Ok(())
    }

    /// Checks one line and adds its event to the chunk.
    fn accept(&mut self, text: &str, record: &mut Vec<u8>) -> Result<u64, String> {
        let event: StoredEvent = serde_json::from_str(text)
            .map_err(|e| format!("is not a valid event envelope: {e}"))?;
        let canonical =
            serde_json::to_string(&event).map_err(|e| format!("cannot be re-encoded: {e}"))?;
        if canonical != text {
            return Err("differs from the form export writes (was it edited?)".to_owned());
        }
        let seq = event.seq;
        if seq != self.expected {
            return Err(format!(
                "holds event {seq}, but event {} comes next: lines are missing or out of order",
                self.expected
            ));
        }
        let prev = record::parse_hash(&event.prev_hash)
            .ok_or("prev_hash is not 64 lowercase hex digits")?;
        if prev != self.prev {
            return Err(format!(
                "event {seq}'s prev_hash does not match the previous line's hash"
            ));
        }
        let hash = record::parse_hash(&event.hash).ok_or("hash is not 64 lowercase hex digits")?;
        check_limits(&event)?;
        record.clear();
        if record::encode(&record::fields_of(&event, &prev), record) != hash {
            return Err(format!("event {seq}'s content does not match its hash"));
        }

        let info = self
            .streams
            .entry(event.stream_id)
            .or_insert_with(|| StreamInfo {
                stream_type: Arc::from(event.stream_type.as_str()),
                version: 0,
            });
        if *info.stream_type != *event.stream_type {
            return Err(format!(
                "event {seq} puts stream {} of type {} under type {}",
                event.stream_id, info.stream_type, event.stream_type
            ));
        }
        if event.stream_version != info.version + 1 {
            return Err(format!(
                "event {seq} has version {} of stream {}, but the previous version was {}",
                event.stream_version, event.stream_id, info.version
            ));
        }
        info.version = event.stream_version;
        self.track_command(&event)?;

        self.chunk.push((seq, sled::IVec::from(record.as_slice())));
        self.prev = hash;
        self.expected += 1;
        Ok(seq)
    }

    /// A command's events are contiguous and in one stream, as the writer
    /// writes them; the command index is rebuilt from them.
    fn track_command(&mut self, event: &StoredEvent) -> Result<(), String> {
        if let Some((id, stream_id)) = self.command {
            if id == event.command_id {
                if stream_id != event.stream_id {
                    return Err(format!("command {id} spans two streams"));
                }
                self.index
                    .extend_last(event.stream_id, event.command_id, event.seq);
                return Ok(());
            }
        }
        if self.index.command(&event.command_id).is_some() {
            return Err(format!(
                "command {} reappears after other commands' events",
                event.command_id
            ));
        }
        let span = CommandSpan {
            first_seq: event.seq,
            count: 1,
        };
        self.index
            .add(event.stream_id, &event.stream_type, event.command_id, span);
        self.command = Some((event.command_id, event.stream_id));
        Ok(())
    }
}

fn check_limits(e: &StoredEvent) -> Result<(), String> {
    let checks = [
        (
            "stream_type",
            e.stream_type.len(),
            1,
            record::MAX_STREAM_TYPE_BYTES,
        ),
        ("type", e.event_type.len(), 1, record::MAX_EVENT_TYPE_BYTES),
        ("actor", e.actor.len(), 0, record::MAX_ACTOR_BYTES),
        ("data", e.data.get().len(), 0, record::MAX_DATA_BYTES),
    ];
    for (field, len, min, max) in checks {
        if len < min || len > max {
            return Err(format!(
                "the {field} field is {len} bytes long; it must be {min} to {max} bytes"
            ));
        }
    }
    if e.stream_version == 0 {
        return Err("stream_version 0 is not a valid version".to_owned());
    }
    Ok(())
}

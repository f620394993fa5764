//! The single writer and its group commit.
//!
//! One thread owns every write. Appends queue on a channel; the writer takes
//! everything pending, decides each request in order against the current
//! state (idempotency, stream type, expected version), encodes and chains
//! the events, writes the whole group as one sled `apply_batch`, flushes and
//! fsyncs once, publishes the new head, and only then answers each caller.
//! One fsync per group rather than per append is what makes durable appends
//! fast under concurrency.
//!
//! Because the writer handles groups one after another and publishes a
//! group only once it is durable, everything it reads back from sled (for
//! example a command id) belongs to an acknowledged group.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use uuid::Uuid;

use crate::durable::Syncer;
use crate::keys::{self, CommandEntry};
use crate::record::{self, Fields, Hash};
use crate::shared::{Shared, StreamInfo};
use crate::{AppendError, AppendOutcome, AppendRequest, AppendedEvent, ExpectedVersion, LogError};

/// The most requests one group takes, to bound latency and memory.
pub(crate) const MAX_GROUP: usize = 4096;

/// Where an append's answer goes.
pub(crate) enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<AppendOutcome, AppendError>>),
    Blocking(SyncSender<Result<AppendOutcome, AppendError>>),
}

impl Reply {
    fn send(self, result: Result<AppendOutcome, AppendError>) {
        // A caller that stopped waiting (a dropped future) still had its
        // append done; it learns the outcome by retrying the command id.
        match self {
            Reply::Async(tx) => drop(tx.send(result)),
            Reply::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

pub(crate) type Ack = SyncSender<Result<(), LogError>>;

/// A chunk of a running import, already verified and encoded.
pub(crate) struct ImportChunk {
    pub batch: sled::Batch,
}

pub(crate) enum Msg {
    Append(AppendRequest, Reply),
    Control(Control),
}

/// Everything but appends; handled between groups.
pub(crate) enum Control {
    /// Make everything durable (graceful shutdown).
    Flush(Ack),
    /// Claim the log for an import; fails unless it is empty.
    ImportBegin(SyncSender<Result<(), crate::ImportError>>),
    ImportChunk(ImportChunk, Ack),
    ImportFinish {
        last_seq: u64,
        hash: Hash,
        streams: HashMap<Uuid, StreamInfo>,
        ack: Ack,
    },
    ImportAbort(Ack),
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    syncer: Syncer,
    last_seq: u64,
    last_hash: Hash,
    /// Set after a failed write: the tree may hold a batch that was never
    /// made durable or published, so continuing could fork the chain.
    failed: Option<String>,
    importing: bool,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        syncer: Syncer,
        head: (u64, Hash),
        failed: Option<String>,
    ) -> Writer {
        Writer {
            shared,
            syncer,
            last_seq: head.0,
            last_hash: head.1,
            failed,
            importing: false,
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            let mut appends = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next {
                match msg {
                    Msg::Append(request, reply) => appends.push((request, reply)),
                    Msg::Control(control) => {
                        // Keep arrival order: appends queued before a flush
                        // or an import step are committed first.
                        self.commit(std::mem::take(&mut appends));
                        self.handle(control);
                    }
                }
                next = if appends.len() < MAX_GROUP {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.commit(appends);
        }
        if self.importing {
            // The importer vanished mid-way; leave nothing half-imported.
            if let Err(e) = self.abort_import() {
                tracing::error!(error = %e, "could not discard an unfinished import");
            }
        }
        self.shared.close();
    }

    fn handle(&mut self, control: Control) {
        match control {
            Control::Flush(ack) => {
                let result = self.check_writable().and_then(|()| self.make_durable());
                let _ = ack.send(result);
            }
            Control::ImportBegin(ack) => {
                let result = match self.check_writable() {
                    Err(e) => Err(e.into()),
                    Ok(()) if self.last_seq > 0 => Err(crate::ImportError::NotEmpty {
                        events: self.last_seq,
                    }),
                    Ok(()) => {
                        self.importing = true;
                        Ok(())
                    }
                };
                let _ = ack.send(result);
            }
            Control::ImportChunk(chunk, ack) => {
                let result = self
                    .shared
                    .db
                    .apply_batch(chunk.batch)
                    .map_err(self.shared.sled_error("importing"));
                let _ = ack.send(self.note_failure(result));
            }
            Control::ImportFinish {
                last_seq,
                hash,
                streams,
                ack,
            } => {
                let result = self.finish_import(last_seq, hash, streams);
                let _ = ack.send(self.note_failure(result));
            }
            Control::ImportAbort(ack) => {
                let result = self.abort_import();
                let _ = ack.send(self.note_failure(result));
            }
        }
    }

    fn check_writable(&self) -> Result<(), LogError> {
        match &self.failed {
            Some(reason) => Err(LogError::WriterFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn note_failure<T>(&mut self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &result {
            tracing::error!(error = %e, dir = %self.shared.dir.display(), "event log write failed; refusing further writes");
            self.failed.get_or_insert_with(|| e.to_string());
        }
        result
    }

    fn make_durable(&mut self) -> Result<(), LogError> {
        self.shared
            .db
            .flush()
            .map_err(self.shared.sled_error("flushing to disk"))?;
        self.syncer.sync()
    }

    /// Decides, writes and acknowledges one group of appends.
    fn commit(&mut self, appends: Vec<(AppendRequest, Reply)>) {
        if appends.is_empty() {
            return;
        }
        if self.failed.is_some() || self.importing {
            for (_, reply) in appends {
                let refusal = self
                    .check_writable()
                    .err()
                    .unwrap_or(LogError::ImportInProgress);
                reply.send(Err(AppendError::Storage(refusal)));
            }
            return;
        }

        let mut group = Group {
            batch: sled::Batch::default(),
            streams: HashMap::new(),
            commands: HashMap::new(),
            last_seq: self.last_seq,
            last_hash: self.last_hash,
        };
        let mut results = Vec::with_capacity(appends.len());
        for (request, reply) in appends {
            let result = self.decide(&request, &mut group);
            results.push((reply, result));
        }

        if group.last_seq > self.last_seq {
            group.batch.insert(
                keys::META_HEAD,
                keys::head_value(group.last_seq, &group.last_hash).to_vec(),
            );
            let written = self
                .shared
                .db
                .apply_batch(group.batch)
                .map_err(self.shared.sled_error("writing events"))
                .and_then(|()| self.make_durable());
            if let Err(e) = self.note_failure(written) {
                let reason = e.to_string();
                for (reply, _) in results {
                    reply.send(Err(AppendError::Storage(LogError::WriterFailed {
                        reason: reason.clone(),
                    })));
                }
                return;
            }
            self.last_seq = group.last_seq;
            self.last_hash = group.last_hash;
            self.shared
                .publish(group.streams, group.last_seq, group.last_hash);
        }
        for (reply, result) in results {
            reply.send(result);
        }
    }

    fn decide(&self, req: &AppendRequest, group: &mut Group) -> Result<AppendOutcome, AppendError> {
        validate(req)?;
        let stream_id = req.stream.stream_id;

        if let Some((digest, outcome)) = group.commands.get(&req.command_id) {
            return if *digest == req.request_digest {
                Ok(AppendOutcome {
                    duplicate: true,
                    ..outcome.clone()
                })
            } else {
                Err(AppendError::IdempotencyMismatch {
                    command_id: req.command_id,
                })
            };
        }
        if let Some(entry) = self.shared.command_entry(req.command_id)? {
            if entry.digest != keys::UNKNOWN_DIGEST && entry.digest != req.request_digest {
                return Err(AppendError::IdempotencyMismatch {
                    command_id: req.command_id,
                });
            }
            return Ok(self.shared.outcome_of(&entry)?);
        }

        let current = group
            .streams
            .get(&stream_id)
            .cloned()
            .or_else(|| self.shared.stream(&stream_id));
        let (stream_type, version) = match current {
            Some(info) if *info.stream_type != *req.stream.stream_type => {
                return Err(AppendError::Invalid(format!(
                    "stream {stream_id} is a {} stream, so it cannot take events as a {} stream",
                    info.stream_type, req.stream.stream_type
                )));
            }
            Some(info) => (info.stream_type, info.version),
            None => (Arc::from(req.stream.stream_type.as_str()), 0),
        };
        if let ExpectedVersion::Exactly(expected) = req.expected_version {
            if expected != version {
                return Err(AppendError::Conflict {
                    stream_id,
                    expected,
                    current: version,
                });
            }
        }

        let first_seq = group.last_seq + 1;
        let mut events = Vec::with_capacity(req.events.len());
        for (i, e) in req.events.iter().enumerate() {
            let seq = first_seq + i as u64;
            let stream_version = version + 1 + i as u64;
            let mut bytes = Vec::new();
            group.last_hash = record::encode(
                &Fields {
                    prev_hash: &group.last_hash,
                    seq,
                    stream_id,
                    stream_version,
                    stream_type: &stream_type,
                    event_type: &e.event_type,
                    schema_version: e.schema_version,
                    data: e.data.get().as_bytes(),
                    event_id: e.event_id,
                    recorded_at: e.recorded_at,
                    effective_at: e.effective_at,
                    command_id: req.command_id,
                    correlation_id: e.correlation_id,
                    actor: &e.actor,
                },
                &mut bytes,
            );
            group.batch.insert(&keys::event(seq), bytes);
            group.batch.insert(
                &keys::stream_index(stream_id, stream_version),
                &keys::u64_value(seq),
            );
            events.push(AppendedEvent {
                seq,
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                stream_version,
            });
        }
        let count = req.events.len() as u64;
        let new_version = version + count;
        group.last_seq += count;
        group.batch.insert(
            &keys::stream_meta(stream_id),
            keys::stream_meta_value(new_version, &stream_type),
        );
        let entry = CommandEntry {
            digest: req.request_digest,
            stream_id,
            first_seq,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        };
        group
            .batch
            .insert(&keys::command(req.command_id), entry.encode().to_vec());
        group.streams.insert(
            stream_id,
            StreamInfo {
                stream_type,
                version: new_version,
            },
        );

        let outcome = AppendOutcome {
            stream_id,
            stream_version: new_version,
            events,
            head_hash: hex::encode(group.last_hash),
            duplicate: false,
        };
        group
            .commands
            .insert(req.command_id, (req.request_digest, outcome.clone()));
        Ok(outcome)
    }

    fn finish_import(
        &mut self,
        last_seq: u64,
        hash: Hash,
        streams: HashMap<Uuid, StreamInfo>,
    ) -> Result<(), LogError> {
        let mut batch = sled::Batch::default();
        batch.remove(keys::META_IMPORTING);
        if last_seq > 0 {
            batch.insert(keys::META_HEAD, keys::head_value(last_seq, &hash).to_vec());
        }
        self.shared
            .db
            .apply_batch(batch)
            .map_err(self.shared.sled_error("finishing the import"))?;
        self.make_durable()?;
        self.importing = false;
        self.last_seq = last_seq;
        self.last_hash = hash;
        self.shared.replace_streams(streams);
        self.shared.publish([], last_seq, hash);
        Ok(())
    }

    fn abort_import(&mut self) -> Result<(), LogError> {
        wipe(&self.shared.db).map_err(self.shared.sled_error("discarding a refused import"))?;
        self.make_durable()?;
        self.importing = false;
        Ok(())
    }
}

/// Removes everything but the format marker, in one atomic batch, the
/// import marker last so a crash mid-way leaves the marker for the next
/// open to finish the job.
pub(crate) fn wipe(db: &sled::Db) -> sled::Result<()> {
    let mut batch = sled::Batch::default();
    for key in db.iter().keys() {
        let key = key?;
        if &*key != keys::META_FORMAT {
            batch.remove(key);
        }
    }
    db.apply_batch(batch)
}

/// The state of one group being decided.
struct Group {
    batch: sled::Batch,
    streams: HashMap<Uuid, StreamInfo>,
    commands: HashMap<Uuid, ([u8; 32], AppendOutcome)>,
    last_seq: u64,
    last_hash: Hash,
}

fn validate(req: &AppendRequest) -> Result<(), AppendError> {
    let invalid = |m: String| Err(AppendError::Invalid(m));
    if req.events.is_empty() {
        return invalid(format!(
            "command {} has no events to append",
            req.command_id
        ));
    }
    if req.events.len() > u32::MAX as usize {
        return invalid("a command may append at most 4294967295 events".to_owned());
    }
    let st = &req.stream.stream_type;
    if st.is_empty() || st.len() > record::MAX_STREAM_TYPE_BYTES {
        return invalid(format!(
            "the stream type must be 1 to {} bytes long, but is {} bytes",
            record::MAX_STREAM_TYPE_BYTES,
            st.len()
        ));
    }
    for (i, e) in req.events.iter().enumerate() {
        let n = i + 1;
        if e.event_type.is_empty() || e.event_type.len() > record::MAX_EVENT_TYPE_BYTES {
            return invalid(format!(
                "event {n}: the event type must be 1 to {} bytes long, but is {} bytes",
                record::MAX_EVENT_TYPE_BYTES,
                e.event_type.len()
            ));
        }
        if e.actor.len() > record::MAX_ACTOR_BYTES {
            return invalid(format!(
                "event {n}: the actor may be at most {} bytes long, but is {} bytes",
                record::MAX_ACTOR_BYTES,
                e.actor.len()
            ));
        }
        let data_len = e.data.get().len();
        if data_len > record::MAX_DATA_BYTES {
            return invalid(format!(
                "event {n}: the data may be at most {} bytes, but is {data_len} bytes",
                record::MAX_DATA_BYTES
            ));
        }
    }
    Ok(())
}

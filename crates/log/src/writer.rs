//! The single writer and its group commit.
//!
//! One thread owns every write. Appends queue on a channel; the writer takes
//! everything pending, decides each request in order against its own state
//! (idempotency, stream type, expected version), encodes and chains the
//! events, writes the whole group as one frame of the journal
//! ([`crate::journal`]), hands the group to the sync stage ([`crate::sync`]),
//! which fsyncs the journal, publishes and answers the callers, and inserts
//! the group's records into sled while the sync stage waits for the disk.
//! One fsync per group rather than per append is what makes durable appends
//! fast under concurrency; running the fsync of one group while the writer
//! inserts it and prepares the next keeps the disk and the CPU busy at the
//! same time. Every so many bytes of journal
//! ([`crate::LogOptions::journal_checkpoint_bytes`]) the writer makes sled
//! durable and starts the journal over.
//!
//! Each group writes one sled key, its records under the first one's seq
//! ([`crate::stored`]), plus the head record; the stream and command
//! indexes live in memory ([`crate::shared::Index`]), because sled's cost is
//! per inserted key.
//!
//! The group and then the head record go into sled as plain inserts, not as
//! an atomic `apply_batch`: sled 0.34 starts writing its buffers out
//! (`pwrite` + `sync_file_range` on its I/O threads) at every batch, which
//! took the device from the journal's `fdatasync` once per group. The
//! journal is what makes a group durable; sled recovers a prefix of its
//! inserts, and open cuts a group past the head record (see `journal.rs`).
//!
//! The writer's state (head, stream versions, the shared index) runs ahead
//! of what readers see by the groups in the sync stage. Anything it reads
//! back (a command id, say) belongs to a group that the journal and sled
//! have, and any answer based on it is sent only after a later fsync, so no
//! caller learns of an event before it is durable.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use uuid::Uuid;

use crate::applied::Applied;
use crate::journal::{Frame, Journal};
use crate::keys;
use crate::record::{self, Fields, Hash};
use crate::shared::{CommandSpan, Index, Shared, StreamInfo};
use crate::stored;
use crate::sync::Durable;
use crate::{AppendError, AppendOutcome, AppendRequest, AppendedEvent, ExpectedVersion, LogError};

/// The most requests one group takes, to bound latency and memory.
pub(crate) const MAX_GROUP: usize = 4096;

/// Where an append's answer goes.
pub(crate) enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<AppendOutcome, AppendError>>),
    Blocking(SyncSender<Result<AppendOutcome, AppendError>>),
}

impl Reply {
    pub(crate) fn send(self, result: Result<AppendOutcome, AppendError>) {
        // A caller that stopped waiting (a dropped future) still had its
        // append done; it learns the outcome by retrying the command id.
        match self {
            Reply::Async(tx) => drop(tx.send(result)),
            Reply::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

pub(crate) type Ack = SyncSender<Result<(), LogError>>;

/// A chunk of a running import, already verified and encoded: each event's
/// seq and record. The importer makes the `IVec`s, which sled keeps as its
/// cached copies; when the writer's threads copied the records out of one
/// buffer instead, the cache lived in their malloc arenas and a `read_all`
/// scan of the imported log ran 15 to 25 % slower.
pub(crate) type ImportChunk = Vec<(u64, sled::IVec)>;

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
        index: Index,
        ack: Ack,
    },
    ImportAbort(Ack),
}

/// What the writer hands its groups on to.
pub(crate) struct Stages {
    pub journal: Journal,
    /// See [`crate::LogOptions::journal_checkpoint_bytes`].
    pub checkpoint_bytes: u64,
    pub applied: Arc<Applied>,
    /// The sync stage's queue, and the thread to join at the end.
    pub durable: Sender<Durable>,
    pub sync_stage: JoinHandle<()>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    journal: Journal,
    /// The last group's frame, kept for its buffer.
    frame: Frame,
    checkpoint_bytes: u64,
    applied: Arc<Applied>,
    durable: Sender<Durable>,
    sync_stage: JoinHandle<()>,
    last_seq: u64,
    last_hash: Hash,
    /// Every stream's type and version, including groups not yet durable.
    streams: HashMap<Uuid, StreamInfo>,
    importing: bool,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stages: Stages,
        head: (u64, Hash),
        streams: HashMap<Uuid, StreamInfo>,
    ) -> Writer {
        let Stages {
            journal,
            checkpoint_bytes,
            applied,
            durable,
            sync_stage,
        } = stages;
        Writer {
            shared,
            journal,
            frame: Frame::default(),
            checkpoint_bytes,
            applied,
            durable,
            sync_stage,
            last_seq: head.0,
            last_hash: head.1,
            streams,
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
            let (ack, _) = std::sync::mpsc::sync_channel(1);
            self.abort_import(ack);
        } else if self.shared.failure().is_ok() {
            // Closing cleanly leaves sled holding everything and the next
            // open nothing to replay; if this fails, that open replays.
            let _ = self.checkpoint();
        }
        // Closing the channel lets the sync stage drain and stop.
        drop(self.durable);
        if self.sync_stage.join().is_err() {
            tracing::error!("the event log's sync thread panicked");
        }
    }

    fn handle(&mut self, control: Control) {
        match control {
            Control::Flush(ack) => drop(ack.send(self.checkpoint())),
            Control::ImportBegin(ack) => {
                let result = match self.shared.failure() {
                    Err(e) => Err(e.into()),
                    Ok(()) if self.last_seq > 0 => Err(crate::ImportError::NotEmpty {
                        events: self.last_seq,
                    }),
                    Ok(()) => {
                        // Before any event: sled recovers a prefix of its
                        // writes, so an event found at open implies the marker.
                        let marked = self
                            .shared
                            .db
                            .insert(keys::META_IMPORTING, &b"1"[..])
                            .map(drop)
                            .map_err(self.shared.sled_error("starting an import"));
                        let marked = self.note_failure(marked);
                        self.importing = marked.is_ok();
                        marked.map_err(Into::into)
                    }
                };
                let _ = ack.send(result);
            }
            Control::ImportChunk(chunk, ack) => {
                let result = self.shared.failure().and_then(|()| {
                    insert_import_chunk(&self.shared.db, &chunk)
                        .map_err(self.shared.sled_error("importing"))
                });
                let _ = ack.send(self.note_failure(result));
            }
            Control::ImportFinish {
                last_seq,
                hash,
                index,
                ack,
            } => self.finish_import(last_seq, hash, index, ack),
            Control::ImportAbort(ack) => self.abort_import(ack),
        }
    }

    fn note_failure<T>(&self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &result {
            self.shared.fail(e.failure_reason());
        }
        result
    }

    /// sled's part of making itself durable; the sync stage does the rest
    /// when it next meets a [`Durable::Barrier`] or [`Durable::Import`].
    fn flush_sled(&self) -> Result<(), LogError> {
        self.shared.failure()?;
        let flushed = self
            .shared
            .db
            .flush()
            .map(drop)
            .map_err(self.shared.sled_error("flushing to disk"));
        self.note_failure(flushed)
    }

    /// Inserts a group's records into sled as one value (or a few, if large), then its head
    /// record.
    fn insert(
        &self,
        frame: &Frame,
        records: &[(u64, std::ops::Range<usize>)],
        head: &[u8],
    ) -> Result<(), LogError> {
        let db = &self.shared.db;
        let Some((first_seq, _)) = records.first() else {
            return Ok(());
        };
        let bytes: Vec<&[u8]> = records
            .iter()
            .map(|(_, at)| frame.record(at.clone()))
            .collect();
        for (skip, value) in stored::values(&bytes) {
            db.insert(keys::event(first_seq + skip), value)
                .map_err(self.shared.sled_error("writing events"))?;
        }
        db.insert(keys::META_HEAD, head)
            .map_err(self.shared.sled_error("writing the head record"))?;
        Ok(())
    }

    /// Makes sled hold everything durably, then starts the journal over.
    fn checkpoint(&mut self) -> Result<(), LogError> {
        self.flush_sled()?;
        let (ack, done) = std::sync::mpsc::sync_channel(1);
        self.to_sync_stage(Durable::Barrier(ack));
        done.recv().map_err(|_| LogError::WriterFailed {
            reason: "the sync thread stopped".to_owned(),
        })??;
        self.journal.clear();
        Ok(())
    }

    fn to_sync_stage(&self, item: Durable) {
        if let Err(returned) = self.durable.send(item) {
            // Only possible if the sync thread died; fail what was sent.
            returned.0.fail(&LogError::WriterFailed {
                reason: "the sync thread stopped".to_owned(),
            });
        }
    }

    /// Decides and writes one group of appends, then hands it on.
    fn commit(&mut self, appends: Vec<(AppendRequest, Reply)>) {
        if appends.is_empty() {
            return;
        }
        let refusal = self
            .shared
            .failure()
            .err()
            .or(self.importing.then_some(LogError::ImportInProgress));
        if let Some(refusal) = refusal {
            for (_, reply) in appends {
                let e = match refusal {
                    LogError::ImportInProgress => LogError::ImportInProgress,
                    _ => refusal.refusal(),
                };
                reply.send(Err(AppendError::Storage(e)));
            }
            return;
        }

        let mut frame = std::mem::take(&mut self.frame);
        frame.reset();
        let mut group = Group {
            records: Vec::new(),
            frame,
            touched: HashMap::new(),
            commands: HashMap::new(),
            added: Vec::new(),
            last_seq: self.last_seq,
            last_hash: self.last_hash,
        };
        let mut replies: Vec<(Reply, Result<AppendOutcome, AppendError>)> =
            Vec::with_capacity(appends.len());
        for (request, reply) in appends {
            let result = self.decide(&request, &mut group, &replies);
            if let Ok(outcome) = &result {
                if !outcome.duplicate {
                    group
                        .commands
                        .insert(request.command_id, (request.request_digest, replies.len()));
                }
            }
            replies.push((reply, result));
        }

        let events = group.last_seq - self.last_seq;
        let frame_start = self.journal.len();
        if events > 0 {
            let written = self.journal.write(&mut group.frame);
            if let Err(e) = self.note_failure(written) {
                let failed = Durable::Group {
                    last_seq: 0,
                    hash: [0; 32],
                    replies,
                    events: 0,
                };
                failed.fail(&e);
                self.frame = group.frame;
                return;
            }
            self.last_seq = group.last_seq;
            self.last_hash = group.last_hash;
            self.streams.extend(group.touched);
        }
        self.to_sync_stage(Durable::Group {
            last_seq: self.last_seq,
            hash: self.last_hash,
            replies,
            events,
        });
        if events > 0 {
            let head = keys::head_value(self.last_seq, &self.last_hash);
            let inserted = self.insert(&group.frame, &group.records, &head);
            if self.note_failure(inserted).is_err() {
                // The sync stage fails the group rather than publish it, so the journal must
                // not keep it either: the next open would apply it to the store, and a caller
                // told that it was not appended would find it there (and, retrying, twice).
                // Should even that fail, the refusal already noted stands, and the frame may
                // come back at the next open: say so where an operator looks.
                if let Err(e) = self.journal.withdraw(frame_start) {
                    tracing::error!(
                        error = %e,
                        first_seq = self.last_seq - events + 1,
                        last_seq = self.last_seq,
                        "a refused group stays in the journal and may be applied at the next open"
                    );
                }
                self.applied.fail();
                self.frame = group.frame;
                return;
            }
            self.shared.update_index(|index| {
                for (stream_id, stream_type, command_id, span) in &group.added {
                    index.add(*stream_id, stream_type, *command_id, *span);
                }
            });
            self.applied.advance(self.last_seq);
        }
        self.frame = group.frame;
        if self.journal.len() >= self.checkpoint_bytes {
            // A failure is noted and refuses every later append.
            let _ = self.checkpoint();
        }
    }

    /// Decides one append of the group; `earlier` holds the group's answers
    /// so far, which a repeated command id within the group gets again.
    fn decide(
        &self,
        req: &AppendRequest,
        group: &mut Group,
        earlier: &[(Reply, Result<AppendOutcome, AppendError>)],
    ) -> Result<AppendOutcome, AppendError> {
        validate(req)?;
        let stream_id = req.stream.stream_id;

        if let Some((digest, at)) = group.commands.get(&req.command_id) {
            return if *digest == req.request_digest {
                match &earlier[*at].1 {
                    Ok(outcome) => Ok(AppendOutcome {
                        duplicate: true,
                        ..outcome.clone()
                    }),
                    Err(_) => unreachable!("only appended commands are remembered"),
                }
            } else {
                Err(AppendError::IdempotencyMismatch {
                    command_id: req.command_id,
                })
            };
        }
        if let Some((digest, outcome)) = self.shared.command_outcome(req.command_id, None)? {
            if digest != keys::UNKNOWN_DIGEST && digest != req.request_digest {
                return Err(AppendError::IdempotencyMismatch {
                    command_id: req.command_id,
                });
            }
            return Ok(outcome);
        }

        let current = group
            .touched
            .get(&stream_id)
            .or_else(|| self.streams.get(&stream_id));
        let (stream_type, version) = match current {
            Some(info) if *info.stream_type != *req.stream.stream_type => {
                return Err(AppendError::Invalid(format!(
                    "stream {stream_id} is a {} stream, so it cannot take events as a {} stream",
                    info.stream_type, req.stream.stream_type
                )));
            }
            Some(info) => (info.stream_type.clone(), info.version),
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
            let (at, hash) = group.frame.push_with(|buf| {
                record::encode(
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
                        request_digest: &req.request_digest,
                    },
                    buf,
                )
            });
            group.last_hash = hash;
            group.records.push((seq, at));
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
        let span = CommandSpan {
            first_seq,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        };
        group
            .added
            .push((stream_id, stream_type.clone(), req.command_id, span));
        group.touched.insert(
            stream_id,
            StreamInfo {
                stream_type,
                version: new_version,
            },
        );

        Ok(AppendOutcome {
            stream_id,
            stream_version: new_version,
            events,
            head_hash: crate::record::to_hex(&group.last_hash),
            duplicate: false,
        })
    }

    fn finish_import(&mut self, last_seq: u64, hash: Hash, index: Index, ack: Ack) {
        let mut batch = sled::Batch::default();
        batch.remove(keys::META_IMPORTING);
        if last_seq > 0 {
            batch.insert(keys::META_HEAD, keys::head_value(last_seq, &hash).to_vec());
        }
        let written = self
            .shared
            .failure()
            .and_then(|()| {
                self.shared
                    .db
                    .apply_batch(batch)
                    .map_err(self.shared.sled_error("finishing the import"))
            })
            .and_then(|()| self.flush_sled());
        if let Err(e) = self.note_failure(written) {
            let _ = ack.send(Err(e));
            return;
        }
        self.importing = false;
        self.last_seq = last_seq;
        self.last_hash = hash;
        self.applied.advance(last_seq);
        self.streams = index.stream_infos();
        // Readers see none of it before the sync stage publishes the head.
        self.shared.replace_index(index);
        self.to_sync_stage(Durable::Import {
            last_seq,
            hash,
            ack,
        });
    }

    fn abort_import(&mut self, ack: Ack) {
        let wiped =
            wipe(&self.shared.db).map_err(self.shared.sled_error("discarding a refused import"));
        let flushed = self.note_failure(wiped).and_then(|()| self.flush_sled());
        self.importing = false;
        match flushed {
            Ok(()) => self.to_sync_stage(Durable::Barrier(ack)),
            Err(e) => drop(ack.send(Err(e))),
        }
    }
}

/// Inserts an import chunk's records on two threads. sled's cost is per key
/// and sled takes concurrent inserts, so the importer checking the next chunk
/// and two inserting threads keep both cores busy where one inserting thread
/// could not keep up with the importer. No order among the inserts matters:
/// the import marker went down first, and readers see nothing before the
/// import finishes.
fn insert_import_chunk(db: &sled::Db, chunk: &ImportChunk) -> sled::Result<()> {
    let insert_all = |entries: &[(u64, sled::IVec)]| {
        entries
            .iter()
            .try_for_each(|(seq, record)| db.insert(keys::event(*seq), record.clone()).map(drop))
    };
    let (first, second) = chunk.split_at(chunk.len() / 2);
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("stocktake-log-import".to_owned())
            .spawn_scoped(scope, || insert_all(second));
        let mine = insert_all(first);
        let theirs = match helper {
            Ok(helper) => helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No second thread to be had: this one does its share too.
            Err(_) => insert_all(second),
        };
        mine.and(theirs)
    })
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
    /// The group's records, encoded once into its journal frame.
    frame: Frame,
    /// Each event's seq and where its record is in the frame, in seq order.
    records: Vec<(u64, std::ops::Range<usize>)>,
    /// Streams this group writes to, with their versions after it.
    touched: HashMap<Uuid, StreamInfo>,
    /// The commands appended so far, with their request digest and where
    /// their answer is among the group's.
    commands: HashMap<Uuid, ([u8; 32], usize)>,
    /// Index entries to add once sled has the group.
    added: Vec<(Uuid, Arc<str>, Uuid, CommandSpan)>,
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
        if record::breaks_lines(e.data.get()) {
            return invalid(format!("event {n}: {}", record::ONE_LINE_DATA));
        }
    }
    Ok(())
}

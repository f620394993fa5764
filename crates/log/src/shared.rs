//! State shared by the writer and every reader: the sled tree, the
//! in-memory indexes, and what the writer has *published*, i.e. made
//! durable.
//!
//! Readers never look past the published head. The writer applies a batch
//! to sled before it is durable; capping reads at the published head keeps
//! those not-yet-acknowledged events invisible, so nobody (a projection, an
//! HTTP client) can observe an event that a crash could still take away.
//! The in-memory indexes ([`Index`]) likewise run ahead of the published
//! head (the writer adds each group once sled has it) and every lookup caps
//! what it finds at the head.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::keys;
use crate::lock::DirLock;
use crate::record::{self, Hash};
use crate::stored::{self, Scan, Unreadable};
use crate::{
    upcast, AppendOutcome, AppendedEvent, Head, LogError, LogMetrics, StoredEvent, Upcaster,
};

/// The stream and command indexes, rebuilt from the event records at open
/// (see `keys.rs` for why they are not in sled). About 8 bytes per event
/// plus ~100 bytes per stream and per command.
#[derive(Debug, Default)]
pub(crate) struct Index {
    streams: HashMap<Uuid, StreamSeqs>,
    commands: HashMap<Uuid, CommandSpan>,
}

#[derive(Debug)]
struct StreamSeqs {
    stream_type: Arc<str>,
    /// `seqs[v - 1]` is the seq of version `v`.
    seqs: Vec<u64>,
}

impl StreamSeqs {
    /// How many of the stream's events are at or before `head`. Usually all: only the groups
    /// the writer has not yet seen made durable lie past it, so the last seq settles it, where
    /// a search from the middle of a long stream's seqs read a cache line per step on every
    /// command's version check.
    fn published(&self, head: u64) -> usize {
        match self.seqs.last() {
            Some(&last) if last > head => self.seqs.partition_point(|&seq| seq <= head),
            _ => self.seqs.len(),
        }
    }
}

/// Where a command's events are: always contiguous, in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommandSpan {
    pub first_seq: u64,
    pub count: u32,
}

impl CommandSpan {
    pub(crate) fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count) - 1
    }
}

impl Index {
    /// How many events the index holds for a stream, published or not: its version while the
    /// index is loaded at open, where nothing lies past the head. Unlike the lookups that serve
    /// reads, it is not capped at the head.
    pub(crate) fn indexed_version(&self, stream_id: &Uuid) -> u64 {
        self.streams
            .get(stream_id)
            .map_or(0, |s| s.seqs.len() as u64)
    }

    /// Records a command's events `first_seq..first_seq + count`, the next
    /// versions of `stream_id`.
    pub(crate) fn add(
        &mut self,
        stream_id: Uuid,
        stream_type: &str,
        command_id: Uuid,
        span: CommandSpan,
    ) {
        let stream = self.streams.entry(stream_id).or_insert_with(|| StreamSeqs {
            stream_type: Arc::from(stream_type),
            seqs: Vec::new(),
        });
        stream
            .seqs
            .extend(span.first_seq..span.first_seq + u64::from(span.count));
        self.commands.insert(command_id, span);
    }

    /// Adds one event to the command `command_id`, which must be the last
    /// command added (open and import rebuild commands event by event).
    pub(crate) fn extend_last(&mut self, stream_id: Uuid, command_id: Uuid, seq: u64) {
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.seqs.push(seq);
        }
        if let Some(span) = self.commands.get_mut(&command_id) {
            span.count += 1;
        }
    }

    pub(crate) fn command(&self, command_id: &Uuid) -> Option<CommandSpan> {
        self.commands.get(command_id).copied()
    }

    /// Every stream's type and version, for the writer.
    pub(crate) fn stream_infos(&self) -> HashMap<Uuid, StreamInfo> {
        self.streams
            .iter()
            .map(|(id, s)| {
                let info = StreamInfo {
                    stream_type: s.stream_type.clone(),
                    version: s.seqs.len() as u64,
                };
                (*id, info)
            })
            .collect()
    }

    /// How many events each stream has, up to `head`.
    pub(crate) fn stream_lengths(&self, head: u64) -> HashMap<Uuid, usize> {
        self.streams
            .iter()
            .map(|(id, s)| (*id, s.published(head)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// The stream's type and the seqs of its versions up to `head`.
    fn stream_upto(&self, stream_id: &Uuid, head: u64) -> Option<(&Arc<str>, &[u64])> {
        let s = self.streams.get(stream_id)?;
        let n = s.published(head);
        (n > 0).then(|| (&s.stream_type, &s.seqs[..n]))
    }

    /// The seq of version `version` of a stream.
    pub(crate) fn seq_of(&self, stream_id: &Uuid, version: u64) -> Option<u64> {
        let s = self.streams.get(stream_id)?;
        s.seqs
            .get(usize::try_from(version.checked_sub(1)?).ok()?)
            .copied()
    }
}

/// A stream's type and current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    pub stream_type: Arc<str>,
    pub version: u64,
}

/// What subscribers wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signal {
    pub last_seq: u64,
    pub closed: bool,
    /// Writes stopped: a write or fsync failed, or open found damage.
    pub writes_stopped: bool,
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub db: sled::Db,
    last_seq: AtomicU64,
    head_hash: Mutex<Hash>,
    index: RwLock<Index>,
    signal: watch::Sender<Signal>,
    metrics: Mutex<LogMetrics>,
    /// Why writes stopped, once a write or fsync failed (or the store was
    /// found damaged at open).
    failed: Mutex<Option<String>>,
    pub upcaster: Option<Arc<dyn Upcaster>>,
    // Declared last so it is released only after sled has closed its files.
    _lock: DirLock,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("dir", &self.dir)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        dir: PathBuf,
        db: sled::Db,
        head: (u64, Hash),
        index: Index,
        upcaster: Option<Arc<dyn Upcaster>>,
        lock: DirLock,
    ) -> Shared {
        let (signal, _) = watch::channel(Signal {
            last_seq: head.0,
            closed: false,
            writes_stopped: false,
        });
        Shared {
            dir,
            db,
            last_seq: AtomicU64::new(head.0),
            head_hash: Mutex::new(head.1),
            index: RwLock::new(index),
            signal,
            metrics: Mutex::new(LogMetrics::default()),
            failed: Mutex::new(None),
            upcaster,
            _lock: lock,
        }
    }

    pub(crate) fn sled_error(
        &self,
        action: &'static str,
    ) -> impl FnOnce(sled::Error) -> LogError + '_ {
        move |source| LogError::Sled {
            action,
            dir: self.dir.clone(),
            source,
        }
    }

    /// The last durable, acknowledged seq.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    pub(crate) fn head(&self) -> Head {
        let hash = self
            .head_hash
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Head {
            last_seq: self.last_seq(),
            head_hash: crate::record::to_hex(&hash),
        }
    }

    /// A stream's type and published version.
    pub(crate) fn stream(&self, stream_id: &Uuid) -> Option<StreamInfo> {
        let head = self.last_seq();
        let index = self.index();
        let (stream_type, seqs) = index.stream_upto(stream_id, head)?;
        Some(StreamInfo {
            stream_type: stream_type.clone(),
            version: seqs.len() as u64,
        })
    }

    pub(crate) fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the writer once sled has a group, before it is durable;
    /// lookups cap at the published head.
    pub(crate) fn update_index(&self, f: impl FnOnce(&mut Index)) {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner));
    }

    /// Called by the sync stage once a group is durable.
    pub(crate) fn publish(&self, last_seq: u64, hash: Hash) {
        {
            let mut h = self
                .head_hash
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *h = hash;
            self.last_seq.store(last_seq, Ordering::Release);
        }
        self.signal.send_modify(|s| s.last_seq = last_seq);
    }

    /// Stops all further writes. The first reason sticks.
    pub(crate) fn fail(&self, reason: String) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if failed.is_none() {
            tracing::error!(dir = %self.dir.display(), %reason, "the event log stopped accepting writes");
            *failed = Some(reason);
            self.signal.send_modify(|s| s.writes_stopped = true);
        }
    }

    /// `Err` once writes have stopped.
    pub(crate) fn failure(&self) -> Result<(), LogError> {
        match &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(reason) => Err(LogError::WriterFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn count_group(&self, commands: u64, events: u64) {
        let mut m = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        m.groups += 1;
        m.commands += commands;
        m.events += events;
    }

    pub(crate) fn count_sync(&self) {
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .syncs += 1;
    }

    pub(crate) fn metrics(&self) -> LogMetrics {
        *self.metrics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn replace_index(&self, index: Index) {
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = index;
    }

    pub(crate) fn close(&self) {
        self.signal.send_modify(|s| s.closed = true);
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    fn upcast(&self, event: StoredEvent) -> Result<StoredEvent, LogError> {
        match &self.upcaster {
            Some(u) => upcast::upcast_to_current(u.as_ref(), event),
            None => Ok(event),
        }
    }

    /// Turns what stopped a read of the store near `seq` into a [`LogError`].
    pub(crate) fn unreadable(
        &self,
        action: &'static str,
        seq: u64,
    ) -> impl FnOnce(Unreadable) -> LogError + '_ {
        move |unreadable| match unreadable {
            Unreadable::Store(source) => self.sled_error(action)(source),
            Unreadable::Key(key) => LogError::Corrupt {
                seq,
                reason: format!(
                    "a malformed key {} is stored among the events",
                    hex::encode(key)
                ),
            },
            Unreadable::Group { seq, reason } => LogError::Corrupt { seq, reason },
        }
    }

    /// Every event from `from` to `to`, in order, decoded as stored (no upcasting). A seq the
    /// store lacks, or cannot read, is an error at that seq, after which nothing follows.
    pub(crate) fn events_as_stored(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<StoredEvent, LogError>> + '_ {
        let mut placed = Scan::new(&self.db, from, to);
        let mut next = Some(from);
        std::iter::from_fn(move || {
            let seq = next.filter(|&seq| seq <= to)?;
            let event = match placed.next() {
                Some(Ok(found)) if found.seq == seq => record::decode_event(seq, &found.bytes),
                Some(Err(e)) => Err(self.unreadable("scanning the event log", seq)(e)),
                Some(Ok(_)) | None => Err(LogError::Corrupt {
                    seq,
                    reason: "the event is missing from the store; run verify".to_owned(),
                }),
            };
            next = if event.is_ok() {
                seq.checked_add(1)
            } else {
                None
            };
            Some(event)
        })
    }

    /// Reads one event as stored (no upcasting), `None` if absent.
    pub(crate) fn event_as_stored(&self, seq: u64) -> Result<Option<StoredEvent>, LogError> {
        let bytes =
            stored::find(&self.db, seq).map_err(self.unreadable("reading an event", seq))?;
        bytes.map(|b| record::decode_event(seq, &b)).transpose()
    }

    /// A page of the global log after `after_seq`, at most `limit` events,
    /// never past the published head.
    pub(crate) fn read_all(
        &self,
        after_seq: u64,
        limit: usize,
        upcast: bool,
    ) -> Result<Vec<StoredEvent>, LogError> {
        let head = self.last_seq();
        if after_seq >= head || limit == 0 {
            return Ok(Vec::new());
        }
        let to = head.min(after_seq.saturating_add(limit as u64));
        let mut out = Vec::with_capacity(((to - after_seq) as usize).min(4096));
        for event in self.events_as_stored(after_seq + 1, to) {
            let event = event?;
            out.push(if upcast { self.upcast(event)? } else { event });
        }
        Ok(out)
    }

    /// A stream's events from `from_version` (inclusive) to its published
    /// version.
    pub(crate) fn read_stream(
        &self,
        stream_id: Uuid,
        from_version: u64,
    ) -> Result<Vec<StoredEvent>, LogError> {
        let from = usize::try_from(from_version.max(1) - 1).unwrap_or(usize::MAX);
        let seqs: Vec<u64> = {
            let head = self.last_seq();
            let index = self.index();
            match index.stream_upto(&stream_id, head) {
                Some((_, seqs)) if from < seqs.len() => seqs[from..].to_vec(),
                _ => return Ok(Vec::new()),
            }
        };
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let event = self
                .event_as_stored(seq)?
                .ok_or_else(|| LogError::Corrupt {
                    seq,
                    reason: format!("stream {stream_id} lists event {seq}, but it is missing"),
                })?;
            out.push(self.upcast(event)?);
        }
        Ok(out)
    }

    /// The request digest and outcome of a command written by a group that
    /// sled has (`up_to` `None`, for the writer) or that is published
    /// (`up_to` the published head), `None` if there is no such command.
    pub(crate) fn command_outcome(
        &self,
        command_id: Uuid,
        up_to: Option<u64>,
    ) -> Result<Option<(Hash, AppendOutcome)>, LogError> {
        let Some(span) = self.index().command(&command_id) else {
            return Ok(None);
        };
        if up_to.is_some_and(|head| span.last_seq() > head) {
            return Ok(None);
        }
        let mut events = Vec::with_capacity(span.count as usize);
        let mut digest = keys::UNKNOWN_DIGEST;
        let mut head_hash = [0; 32];
        let mut stream_id = Uuid::nil();
        // A command's events are contiguous: one scan reads them, whatever groups hold them.
        let mut placed = Scan::new(&self.db, span.first_seq, span.last_seq());
        for seq in span.first_seq..=span.last_seq() {
            let corrupt = |reason: String| LogError::Corrupt { seq, reason };
            let bytes = match placed.next().transpose() {
                Ok(Some(found)) if found.seq == seq => found.bytes,
                Ok(_) => {
                    return Err(corrupt(
                        "an event of an acknowledged command is missing".to_owned(),
                    ))
                }
                Err(e) => return Err(self.unreadable("reading an event", seq)(e)),
            };
            let r = record::Record::decode(&bytes).map_err(corrupt)?;
            if r.seq != seq || r.command_id != command_id {
                return Err(corrupt(format!(
                    "the index places command {command_id} at event {seq}, which holds event {} of command {}",
                    r.seq, r.command_id
                )));
            }
            events.push(AppendedEvent {
                seq,
                event_id: r.event_id,
                event_type: r.event_type.to_owned(),
                stream_version: r.stream_version,
            });
            digest = r.request_digest;
            head_hash = r.hash;
            stream_id = r.stream_id;
        }
        let outcome = AppendOutcome {
            stream_id,
            stream_version: events.last().map_or(0, |e| e.stream_version),
            events,
            head_hash: record::to_hex(&head_hash),
            duplicate: true,
        };
        Ok(Some((digest, outcome)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_published_events_are_those_at_or_before_the_head() {
        let stream = StreamSeqs {
            stream_type: Arc::from("action"),
            seqs: vec![1, 3, 5, 9],
        };
        let published: Vec<usize> = [0, 1, 2, 4, 5, 8, 9, 100]
            .into_iter()
            .map(|head| stream.published(head))
            .collect();
        assert_eq!(published, [0, 1, 1, 2, 3, 3, 4, 4]);
        let empty = StreamSeqs {
            stream_type: Arc::from("action"),
            seqs: Vec::new(),
        };
        assert_eq!(empty.published(7), 0);
    }
}

//! State shared by the writer and every reader: the sled tree and what the
//! writer has *published*, i.e. made durable.
//!
//! Readers never look past the published head. The writer applies a batch
//! to sled before it is durable; capping reads at the published head keeps
//! those not-yet-acknowledged events invisible, so nobody (a projection, an
//! HTTP client) can observe an event that a crash could still take away.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::keys::{self, CommandEntry};
use crate::lock::DirLock;
use crate::record::{self, Hash};
use crate::{
    upcast, AppendOutcome, AppendedEvent, Head, LogError, LogMetrics, StoredEvent, Upcaster,
};

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
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub db: sled::Db,
    last_seq: AtomicU64,
    head_hash: Mutex<Hash>,
    streams: RwLock<HashMap<Uuid, StreamInfo>>,
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
        streams: HashMap<Uuid, StreamInfo>,
        upcaster: Option<Arc<dyn Upcaster>>,
        lock: DirLock,
    ) -> Shared {
        let (signal, _) = watch::channel(Signal {
            last_seq: head.0,
            closed: false,
        });
        Shared {
            dir,
            db,
            last_seq: AtomicU64::new(head.0),
            head_hash: Mutex::new(head.1),
            streams: RwLock::new(streams),
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

    pub(crate) fn stream(&self, stream_id: &Uuid) -> Option<StreamInfo> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(stream_id)
            .cloned()
    }

    /// Called by the writer once a batch is durable. Streams first, then
    /// the head: whoever sees the new head also sees the stream versions.
    pub(crate) fn publish(
        &self,
        streams: impl IntoIterator<Item = (Uuid, StreamInfo)>,
        last_seq: u64,
        hash: Hash,
    ) {
        self.streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(streams);
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

    pub(crate) fn metrics(&self) -> LogMetrics {
        *self.metrics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn replace_streams(&self, streams: HashMap<Uuid, StreamInfo>) {
        *self.streams.write().unwrap_or_else(PoisonError::into_inner) = streams;
    }

    pub(crate) fn close(&self) {
        self.signal.send_modify(|s| s.closed = true);
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    fn upcast(&self, event: StoredEvent) -> Result<StoredEvent, LogError> {
        match &self.upcaster {
            Some(u) => upcast::apply(u.as_ref(), event),
            None => Ok(event),
        }
    }

    /// Reads one event as stored (no upcasting), `None` if absent.
    pub(crate) fn event_as_stored(&self, seq: u64) -> Result<Option<StoredEvent>, LogError> {
        let bytes = self
            .db
            .get(keys::event(seq))
            .map_err(self.sled_error("reading an event"))?;
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
        let mut out = Vec::with_capacity(limit.min((head - after_seq) as usize).min(4096));
        for item in self
            .db
            .range(keys::event(after_seq + 1)..=keys::event(head))
            .take(limit)
        {
            let (key, value) = item.map_err(self.sled_error("scanning the event log"))?;
            let seq = keys::event_seq(&key).unwrap_or(after_seq + 1 + out.len() as u64);
            let event = record::decode_event(seq, &value)?;
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
        let Some(info) = self.stream(&stream_id) else {
            return Ok(Vec::new());
        };
        let from = from_version.max(1);
        if from > info.version {
            return Ok(Vec::new());
        }
        let range =
            keys::stream_index(stream_id, from)..=keys::stream_index(stream_id, info.version);
        let mut out = Vec::with_capacity((info.version - from + 1).min(4096) as usize);
        for item in self.db.range(range) {
            let (key, value) = item.map_err(self.sled_error("reading a stream"))?;
            let seq = keys::parse_u64(&value).ok_or_else(|| LogError::Corrupt {
                seq: 0,
                reason: format!(
                    "the stream index entry {} holds no sequence number",
                    hex::encode(&key)
                ),
            })?;
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

    /// The stored index entry of a command, if the command was acknowledged.
    pub(crate) fn command_entry(&self, command_id: Uuid) -> Result<Option<CommandEntry>, LogError> {
        let Some(bytes) = self
            .db
            .get(keys::command(command_id))
            .map_err(self.sled_error("looking up a command"))?
        else {
            return Ok(None);
        };
        let entry = CommandEntry::decode(&bytes)
            .filter(|e| e.count > 0)
            .ok_or_else(|| LogError::Corrupt {
                seq: 0,
                reason: format!("the index entry of command {command_id} is malformed"),
            })?;
        Ok(Some(entry))
    }

    /// Rebuilds the outcome of an earlier append from its events.
    pub(crate) fn outcome_of(&self, entry: &CommandEntry) -> Result<AppendOutcome, LogError> {
        let mut events = Vec::with_capacity(entry.count as usize);
        let mut head_hash = String::new();
        for seq in entry.first_seq..=entry.last_seq() {
            let e = self
                .event_as_stored(seq)?
                .ok_or_else(|| LogError::Corrupt {
                    seq,
                    reason: "an event of an acknowledged command is missing".to_owned(),
                })?;
            events.push(AppendedEvent {
                seq,
                event_id: e.event_id,
                event_type: e.event_type,
                stream_version: e.stream_version,
            });
            head_hash = e.hash;
        }
        Ok(AppendOutcome {
            stream_id: entry.stream_id,
            stream_version: events.last().map_or(0, |e| e.stream_version),
            events,
            head_hash,
            duplicate: true,
        })
    }
}

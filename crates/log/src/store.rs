//! [`Log`], the handle everything else goes through, and opening a data
//! directory.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use uuid::Uuid;

use crate::applied::Applied;
use crate::durable::Syncer;
use crate::journal::{self, Journal};
use crate::keys;
use crate::lock::{self, DirLock};
use crate::record::{self, Hash, GENESIS};
use crate::shared::{CommandSpan, Index, Shared};
use crate::stored::{self, Placed, Scan, Unreadable};
use crate::subscription::{HeadWatch, Subscription};
use crate::sync;
use crate::writer::{self, Control, Msg, Reply, Stages, Writer};
use crate::{
    export, import, verify, AppendError, AppendOutcome, AppendRequest, Head, ImportError, LogError,
    LogMetrics, StoredEvent, Upcaster, VerifyReport,
};

/// How to open a [`Log`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Applied to every read except [`Log::read_all_as_stored`] and
    /// [`Log::export`].
    pub upcaster: Option<Arc<dyn Upcaster>>,
    /// sled's page cache size.
    pub cache_capacity_bytes: u64,
    /// How many bytes of groups the journal holds before a checkpoint makes
    /// sled durable and starts it over: what a restart after a crash replays at
    /// most, and how much of sled's data a checkpoint writes at once.
    pub journal_checkpoint_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            upcaster: None,
            cache_capacity_bytes: 256 * 1024 * 1024,
            journal_checkpoint_bytes: journal::CHECKPOINT_BYTES,
        }
    }
}

/// The event log of one data directory. Cheap to clone; all clones share
/// one writer thread. The directory stays locked until every clone, every
/// [`Subscription`] and every iterator is dropped.
#[derive(Debug, Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    tx: Option<Sender<Msg>>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer after its current group;
        // joining it means sled is closed when the last handle is gone
        // (unless a subscription still holds it).
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the event log writer thread panicked");
            }
        }
    }
}

/// Where sled keeps its files inside the data directory.
const SLED_DIR: &str = "sled";

impl Log {
    /// Opens (creating if needed) the log in `dir` and starts its writer
    /// thread. Fails with [`LogError::Locked`] if another process has `dir`
    /// open.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log, LogError> {
        let dir = lock::create_dir(dir.as_ref())?;
        let lock = DirLock::acquire(&dir)?;
        let sled_dir = dir.join(SLED_DIR);
        let config = sled::Config::new()
            .path(&sled_dir)
            .cache_capacity(options.cache_capacity_bytes)
            // The journal makes groups durable and checkpoints flush sled;
            // a background flusher would only add a second thread
            // contending for sled's locks.
            .flush_every_ms(None);
        let db = open_sled(&config).map_err(LogError::sled("opening", &dir))?;
        let sled_err = |action| LogError::sled(action, &dir);

        check_format(&db, &dir)?;
        // Before the journal: an import runs only on an empty log, so the
        // journal has nothing of it, and its events have no head record yet.
        if db
            .contains_key(keys::META_IMPORTING)
            .map_err(sled_err("checking for an unfinished import"))?
        {
            tracing::warn!(dir = %dir.display(), "discarding an import that did not finish");
            writer::wipe(&db).map_err(sled_err("discarding an unfinished import"))?;
        }
        let mut problems = Vec::new();
        let grow = journal::GROW_BYTES.min(options.journal_checkpoint_bytes);
        let mut journal = Journal::open(&dir, grow)?;
        let frames = journal.read_frames()?;
        let recovery = journal::recover(frames, &db, &dir, &mut problems)?;
        if recovery.replayed > 0 {
            tracing::info!(
                dir = %dir.display(),
                events = recovery.replayed,
                "applied the journal's last groups to the store"
            );
        }
        if recovery.cut > 0 {
            tracing::warn!(
                dir = %dir.display(),
                events = recovery.cut,
                "removed the part of an unacknowledged group that the store held past its head record"
            );
        }
        db.flush().map_err(sled_err("flushing"))?;
        let syncer = Syncer::new(&dir, &sled_dir)?;

        let head = load_head(&db, &dir, &mut problems)?;
        let index = load_index(&db, &dir, head.0, &mut problems)?;
        if problems.is_empty() {
            // sled now holds every group durably. With problems, appends
            // stop and the journal is kept for whoever repairs the store.
            journal.clear();
        }
        let journal_sync = journal.sync_handle()?;
        let streams = index.stream_infos();
        let shared = Arc::new(Shared::new(
            dir.clone(),
            db,
            head,
            index,
            options.upcaster,
            lock,
        ));
        if !problems.is_empty() {
            shared.fail(format!("{}; run verify", problems.join("; ")));
        }
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(|e| LogError::io("could not start a thread for", &dir, e))
        };
        let (durable_tx, durable_rx) = mpsc::channel();
        let applied = Arc::new(Applied::new(head.0));
        let sync_applied = applied.clone();
        let sync_shared = shared.clone();
        let sync_stage = spawn(
            "stocktake-log-sync",
            Box::new(move || {
                sync::run(sync_shared, syncer, journal_sync, &sync_applied, durable_rx);
            }),
        )?;
        let (tx, rx) = mpsc::channel();
        let stages = Stages {
            journal,
            checkpoint_bytes: options.journal_checkpoint_bytes,
            applied,
            durable: durable_tx,
            sync_stage,
        };
        let writer = Writer::new(shared.clone(), stages, head, streams);
        let handle = spawn("stocktake-log-writer", Box::new(move || writer.run(rx)))?;
        Ok(Log {
            inner: Arc::new(Inner {
                shared,
                tx: Some(tx),
                writer: Some(handle),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn send(&self, msg: Msg) -> Result<(), LogError> {
        let tx = self.inner.tx.as_ref().ok_or(LogError::Closed)?;
        tx.send(msg).map_err(|_| LogError::Closed)
    }

    /// Appends one command's events atomically, durably, once.
    ///
    /// Returns when the events are on stable storage. Dropping the future
    /// does not cancel the append; retry with the same `command_id` to learn
    /// its outcome.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Append(request, Reply::Async(tx)))?;
        rx.await.map_err(|_| LogError::Closed)?
    }

    /// [`Log::append`] for code without an async runtime. Blocks the
    /// calling thread until the append is durable.
    pub fn append_blocking(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Msg::Append(request, Reply::Blocking(tx)))?;
        rx.recv().map_err(|_| LogError::Closed)?
    }

    /// The outcome of an acknowledged command, with `duplicate: true`, or
    /// `None` if the command id is unknown.
    pub fn command(&self, command_id: Uuid) -> Result<Option<AppendOutcome>, LogError> {
        let shared = self.shared();
        Ok(shared
            .command_outcome(command_id, Some(shared.last_seq()))?
            .map(|(_, outcome)| outcome))
    }

    /// The outcome of an acknowledged command if `request_digest` matches the one it was
    /// appended with; [`AppendError::IdempotencyMismatch`] if it does not; `None` if the
    /// command id is unknown. Lets a caller answer a retry before deciding anything again.
    pub fn command_for(
        &self,
        command_id: Uuid,
        request_digest: &[u8; 32],
    ) -> Result<Option<AppendOutcome>, AppendError> {
        let shared = self.shared();
        match shared.command_outcome(command_id, Some(shared.last_seq()))? {
            Some((digest, _)) if digest != keys::UNKNOWN_DIGEST && digest != *request_digest => {
                Err(AppendError::IdempotencyMismatch { command_id })
            }
            found => Ok(found.map(|(_, outcome)| outcome)),
        }
    }

    /// A stream's version: the number of its events, 0 if it has none.
    pub fn stream_version(&self, stream_id: Uuid) -> Result<u64, LogError> {
        Ok(self.shared().stream(&stream_id).map_or(0, |s| s.version))
    }

    /// How many published events each stream has, by stream id: for a reader about to read
    /// the whole log, to size what it builds for each stream once.
    pub fn stream_lengths(&self) -> HashMap<Uuid, usize> {
        let head = self.shared().last_seq();
        self.shared().index().stream_lengths(head)
    }

    /// A stream's type, `None` if it has no events.
    pub fn stream_type(&self, stream_id: Uuid) -> Result<Option<String>, LogError> {
        Ok(self
            .shared()
            .stream(&stream_id)
            .map(|s| s.stream_type.to_string()))
    }

    /// A stream's events with `stream_version >= from_version`, upcast.
    pub fn read_stream(
        &self,
        stream_id: Uuid,
        from_version: u64,
    ) -> Result<Vec<StoredEvent>, LogError> {
        self.shared().read_stream(stream_id, from_version)
    }

    /// Up to `limit` events with `seq > after_seq`, upcast.
    pub fn read_all(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, LogError> {
        self.shared().read_all(after_seq, limit, true)
    }

    /// Up to `limit` events with `seq > after_seq`, exactly as stored (for
    /// audit, export and the HTTP event feed).
    pub fn read_all_as_stored(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, LogError> {
        self.shared().read_all(after_seq, limit, false)
    }

    /// One event exactly as stored, `None` if `seq` is not (yet) in the log.
    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>, LogError> {
        if seq == 0 || seq > self.shared().last_seq() {
            return Ok(None);
        }
        self.shared().event_as_stored(seq)
    }

    /// Every event with `seq > after_seq`, upcast, read page by page (for
    /// rebuilding projections). Follows appends made while iterating; ends
    /// at the head it finds when it runs out, and after the first error.
    pub fn iter_all(
        &self,
        after_seq: u64,
    ) -> impl Iterator<Item = Result<StoredEvent, LogError>> + '_ {
        Pages {
            shared: self.shared(),
            after: after_seq,
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    /// The last durable seq and the chain hash after it. An empty log has
    /// `last_seq` 0 and [`GENESIS_HASH`](crate::GENESIS_HASH).
    pub fn head(&self) -> Head {
        self.shared().head()
    }

    /// The last durable seq: [`Log::head`] without its hash, for a reader that only needs to
    /// know how far the log has got.
    pub fn last_seq(&self) -> u64 {
        self.shared().last_seq()
    }

    /// A live feed of upcast events with `seq > after_seq`.
    pub fn subscribe(&self, after_seq: u64) -> Subscription {
        Subscription::new(self.inner.shared.clone(), after_seq, true)
    }

    /// A wake-up when the published head moves, for a follower that reads by itself.
    pub fn watch_head(&self) -> HeadWatch {
        HeadWatch::new(&self.inner.shared)
    }

    /// A live feed of events exactly as stored, for the HTTP event stream.
    pub fn subscribe_as_stored(&self, after_seq: u64) -> Subscription {
        Subscription::new(self.inner.shared.clone(), after_seq, false)
    }

    /// Walks the whole chain; `progress` gets each seq checked. Damage is
    /// reported in the [`VerifyReport`], not as an error.
    pub fn verify(&self, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, LogError> {
        verify::verify(self.shared(), progress)
    }

    /// Writes the whole log as JSON Lines; `progress` gets each seq written.
    /// Returns the head the export ends at.
    pub fn export(
        &self,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Head, LogError> {
        export::export(self.shared(), out, progress)
    }

    /// Loads an export file into this log, which must be empty. The file is
    /// checked line by line; if any line is refused, nothing is kept.
    /// Appends made meanwhile fail with [`LogError::ImportInProgress`].
    pub fn import(
        &self,
        input: &mut dyn BufRead,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Head, ImportError> {
        let tx = self.inner.tx.as_ref().ok_or(LogError::Closed)?;
        import::import(tx, input, progress)
    }

    /// Bytes the log uses on disk: sled's files and the journal.
    pub fn size_on_disk(&self) -> Result<u64, LogError> {
        let shared = self.shared();
        let store = shared
            .db
            .size_on_disk()
            .map_err(shared.sled_error("measuring its size"))?;
        let path = shared.dir.join(journal::FILE_NAME);
        let journal = std::fs::metadata(&path)
            .map_err(|e| LogError::io("could not read the size of", &path, e))?
            .len();
        Ok(store + journal)
    }

    /// Makes sled hold everything durably and starts the journal over. Appends
    /// are durable when acknowledged already; this is for graceful shutdown
    /// (the next open has nothing to replay).
    pub fn flush(&self) -> Result<(), LogError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Msg::Control(Control::Flush(tx)))?;
        rx.recv().map_err(|_| LogError::Closed)?
    }

    /// Why the log stopped accepting writes, if it did: a write or fsync failed, or `open`
    /// found damage at the end of the log. Only reopening the log can start writes again.
    pub fn write_failure(&self) -> Option<String> {
        match self.shared().failure() {
            Err(LogError::WriterFailed { reason }) => Some(reason),
            _ => None,
        }
    }

    /// Resolves once the log stops accepting writes (at once if it already has).
    pub async fn writes_stopped(&self) {
        let mut signal = self.shared().watch();
        // The sender lives as long as the log, which `self` keeps alive.
        let _ = signal.wait_for(|s| s.writes_stopped).await;
    }

    /// Counters of the writer since open (group commits, appends, events).
    pub fn metrics(&self) -> LogMetrics {
        self.shared().metrics()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared().dir
    }
}

struct Pages<'a> {
    shared: &'a Shared,
    after: u64,
    page: std::vec::IntoIter<StoredEvent>,
    done: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<StoredEvent, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.page.next() {
            self.after = event.seq;
            return Some(Ok(event));
        }
        if self.done {
            return None;
        }
        match self.shared.read_all(self.after, 1024, true) {
            Ok(page) if page.is_empty() => {
                self.done = true;
                None
            }
            Ok(page) => {
                self.page = page.into_iter();
                self.next()
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Opens sled, waiting a moment if its own file lock is still held. With the
/// directory's lock taken, only a `Log` of this process that was just
/// dropped can hold it: sled's I/O threads let go of its file a little after
/// the `Db` is dropped.
fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match config.open() {
            // sled 0.34.7 reports the lock as a custom I/O error with this text.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

fn check_format(db: &sled::Db, dir: &Path) -> Result<(), LogError> {
    let sled_err = || LogError::sled("reading its format", dir);
    match db.get(keys::META_FORMAT).map_err(sled_err())? {
        Some(v) if &*v == keys::FORMAT_VALUE => Ok(()),
        // Format 2 kept one event per key, which format 3 reads as it is; only a build that
        // knows groups may read what is appended from now on.
        Some(v) if &*v == keys::FORMAT_2_VALUE => {
            db.insert(keys::META_FORMAT, keys::FORMAT_VALUE)
                .map_err(sled_err())?;
            Ok(())
        }
        Some(v) => Err(LogError::Format {
            dir: dir.to_path_buf(),
            reason: format!(
                "holds an event log of format {:?}, which this build cannot read",
                String::from_utf8_lossy(&v)
            ),
        }),
        None if db.is_empty() => {
            db.insert(keys::META_FORMAT, keys::FORMAT_VALUE)
                .map_err(sled_err())?;
            Ok(())
        }
        None => Err(LogError::Format {
            dir: dir.to_path_buf(),
            reason: "holds a sled database that is not a Stocktake event log".to_owned(),
        }),
    }
}

/// The head to publish: the last stored event, cross-checked against the
/// head record. On disagreement the further one wins (so verify walks to
/// it and names what is missing) and the writer refuses appends.
fn load_head(
    db: &sled::Db,
    dir: &Path,
    problems: &mut Vec<String>,
) -> Result<(u64, Hash), LogError> {
    let sled_err = |action| LogError::sled(action, dir);
    let last = match stored::last(db) {
        Ok(last) => last,
        Err(Unreadable::Store(source)) => return Err(sled_err("finding the last event")(source)),
        Err(Unreadable::Key(key)) => {
            problems.push(format!(
                "a malformed key {} is stored after the events",
                hex::encode(key)
            ));
            None
        }
        Err(Unreadable::Group { seq, reason }) => {
            problems.push(format!(
                "the last stored group, from event {seq}, is unreadable: {reason}"
            ));
            return Ok((seq, GENESIS));
        }
    };
    let from_events = match last {
        None => (0, GENESIS),
        Some(Placed { seq, bytes: value }) => match record::Record::decode(&value) {
            Ok(r) if r.seq == seq => (seq, r.hash),
            Ok(r) => {
                problems.push(format!(
                    "the last stored event {seq} claims to be event {}",
                    r.seq
                ));
                (seq, GENESIS)
            }
            Err(reason) => {
                problems.push(format!(
                    "the last stored event {seq} is unreadable: {reason}"
                ));
                (seq, GENESIS)
            }
        },
    };
    let recorded = db
        .get(keys::META_HEAD)
        .map_err(sled_err("reading the head record"))?;
    let recorded = match recorded {
        None => (0, GENESIS),
        Some(v) => keys::parse_head(&v).unwrap_or_else(|| {
            problems.push("the head record is malformed".to_owned());
            (0, GENESIS)
        }),
    };
    if recorded == from_events || !problems.is_empty() {
        return Ok(from_events);
    }
    problems.push(format!(
        "the head record says the log ends at event {}, but the last stored event is {}",
        recorded.0, from_events.0
    ));
    Ok(if recorded.0 > from_events.0 {
        recorded
    } else {
        from_events
    })
}

/// Rebuilds the stream and command indexes from the event records up to
/// `head` (decoding each, without checking hashes: that is `verify`'s job).
/// A record that cannot be indexed is a problem, which stops appends until
/// someone runs `verify`; reads keep working.
fn load_index(
    db: &sled::Db,
    dir: &Path,
    head: u64,
    problems: &mut Vec<String>,
) -> Result<Index, LogError> {
    let mut index = Index::default();
    if head == 0 {
        return Ok(index);
    }
    let mut last_command = None;
    // One damaged record can make every later event of its stream look
    // wrong; the first few say enough.
    let mut note = |problem: String| {
        if problems.len() < 4 {
            problems.push(problem);
        }
    };
    let mut expected = 1;
    for item in Scan::new(db, 1, head) {
        let Placed { seq, bytes: value } = match item {
            Ok(placed) => placed,
            // sled's own checksums found damaged pages: open anyway (reads
            // of what is indexed work, appends stop) so that `verify` can
            // name the first event it cannot read.
            Err(Unreadable::Store(sled::Error::Corruption { at, .. })) => {
                note(format!(
                    "the store's bytes are damaged where event {expected} or later is kept (sled reports corruption at {at:?})"
                ));
                break;
            }
            Err(Unreadable::Store(source)) => {
                return Err(LogError::Sled {
                    action: "loading the stream index",
                    dir: dir.to_path_buf(),
                    source,
                })
            }
            Err(Unreadable::Key(key)) => {
                note(format!(
                    "a malformed key {} is stored where event {expected} or later belongs",
                    hex::encode(key)
                ));
                break;
            }
            Err(Unreadable::Group { seq, reason }) => {
                note(format!(
                    "the group stored from event {seq} is unreadable: {reason}"
                ));
                break;
            }
        };
        expected = seq + 1;
        let r = match record::Record::decode(&value) {
            Ok(r) if r.seq == seq => r,
            Ok(r) => {
                note(format!(
                    "the record stored as event {seq} claims to be event {}",
                    r.seq
                ));
                last_command = None;
                continue;
            }
            Err(reason) => {
                note(format!("event {seq} is unreadable: {reason}"));
                last_command = None;
                continue;
            }
        };
        let version = index.indexed_version(&r.stream_id);
        if r.stream_version != version + 1 {
            note(format!(
                "event {seq} has version {} of stream {}, but the previous version was {version}",
                r.stream_version, r.stream_id
            ));
            last_command = None;
            continue;
        }
        if last_command == Some((r.command_id, r.stream_id)) {
            index.extend_last(r.stream_id, r.command_id, seq);
        } else {
            let span = CommandSpan {
                first_seq: seq,
                count: 1,
            };
            index.add(r.stream_id, r.stream_type, r.command_id, span);
            last_command = Some((r.command_id, r.stream_id));
        }
    }
    Ok(index)
}

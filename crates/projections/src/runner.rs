//! The imperative shell of the projections: builds the read model from the log (or a
//! checkpoint), folds the log's new events as they are published, and tells waiters how far it
//! has got.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use stocktake_log::{Log, LogError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checkpoint::{self, CheckpointError, Checkpoints};
use crate::decode::{self, Actors, DecodeFailure};
use crate::entries::CHUNK;
use crate::model::{EntryBatch, ReadModel};
use crate::read_ahead::{read_ahead, BatchSizes, Batches};
use crate::saver::Saver;

/// The checkpoint is brought up to date once the log has been quiet this long. A save reads
/// every event since the last one back from the log and writes it out again: under load, next
/// to the serving threads, that put 0.5 to 1.5 ms on the p99 of commands at 64 clients, even at
/// the lowest priority. A quiet moment comes soon enough: the log is the truth, and a start
/// replays whatever the checkpoint lacks.
const QUIET_BEFORE_SAVE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Decode(#[from] DecodeFailure),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("could not start the thread that saves projection checkpoints: {0}")]
    SaverThread(#[source] std::io::Error),
    #[error("could not start the thread that reads the log for the projections: {0}")]
    CatchUpThread(#[source] std::io::Error),
}

/// How the read model was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedFrom {
    /// From a checkpoint, then the events after it.
    Checkpoint { checkpoint_seq: u64 },
    /// From the beginning of the log.
    Rebuild,
}

/// The live read model, shared between the follower task and the queries.
#[derive(Debug, Clone)]
pub struct Projector {
    model: Arc<RwLock<ReadModel>>,
    /// The last sequence folded; only a folder (holding `folding`) moves it.
    applied: watch::Sender<u64>,
    /// Held by whoever is folding the log's new events into the model: the follower task, or
    /// a reader waiting for the events published before it ([`Projector::reach`]).
    folding: Arc<tokio::sync::Mutex<Folding>>,
    /// An event could not be read, or the log could not be: the model stays where it is.
    stopped: Arc<AtomicBool>,
    /// The checkpoints, and the thread that saves them in the background; `None` without a
    /// checkpoint directory.
    checkpoints: Option<Arc<Saver>>,
    started_from: StartedFrom,
}

/// The right to fold the log's new events into the model: one folder at a time.
#[derive(Debug, Default)]
struct Folding {
    /// The names of the actors of the events folded since the start.
    actors: Actors,
}

/// What one turn of folding did.
enum Turn {
    /// A page was folded.
    Page,
    /// The model has every published event, or folding has stopped.
    Done,
}

/// How many events one read of the log fetches while following it.
const FOLD_PAGE: usize = 512;

/// Folds every event after the model's last sequence into it, reporting progress. The log is
/// read, and each event decoded into the model's entry, on a thread of its own
/// ([`read_ahead`]), in batches of a chunk of the model's entries: the fold thread keeps each
/// batch as it is and only places its entries in their streams.
fn catch_up(
    log: &Log,
    model: &mut ReadModel,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), ProjectionError> {
    let total = log.head().last_seq;
    let after = model.last_seq();
    let sizes = BatchSizes {
        first: model.room(),
        rest: CHUNK,
    };
    let read = |out: &mut Batches<EntryBatch>| -> Result<(), ProjectionError> {
        let mut actors = Actors::default();
        for stored in log.iter_all(after) {
            if !out.push(decode::entry(&stored?, &mut actors)?) {
                break;
            }
        }
        Ok(())
    };
    let fold = |batches: &mut dyn Iterator<Item = EntryBatch>| {
        let mut reported = after;
        for batch in batches {
            model.apply_batch(batch);
            if model.last_seq() / PROGRESS_EVERY > reported / PROGRESS_EVERY {
                reported = model.last_seq();
                progress(reported, total);
            }
        }
    };
    let ((), read) = read_ahead("stocktake-catch-up", sizes, read, fold)
        .map_err(ProjectionError::CatchUpThread)?;
    // After a failure too, say how far the fold got: every event before the bad one.
    progress(model.last_seq(), total.max(model.last_seq()));
    read
}

/// A catch-up reports its progress each time it passes a multiple of this many events.
const PROGRESS_EVERY: u64 = 4096;

/// Rebuilds the read model from sequence 0. `progress(done, total)` is told along the way.
pub fn rebuild(
    log: &Log,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ReadModel, ProjectionError> {
    let mut model = ReadModel::expecting(log.stream_lengths());
    catch_up(log, &mut model, progress)?;
    Ok(model)
}

fn checkpoint_matches_log(log: &Log, loaded: &checkpoint::Loaded) -> Result<bool, LogError> {
    let seq = loaded.model.last_seq();
    if seq == 0 {
        return Ok(true);
    }
    Ok(log.event(seq)?.is_some_and(|e| e.hash == loaded.last_hash))
}

impl Projector {
    /// Builds the read model up to the log's head: from a checkpoint in `checkpoint_dir` when
    /// it is of this build and matches the log, else by a full rebuild.
    pub fn start(
        log: &Log,
        checkpoint_dir: Option<&Path>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Projector, ProjectionError> {
        let loaded = match checkpoint_dir {
            Some(dir) => match checkpoint::load(dir, log.stream_lengths()) {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring the projection checkpoint; rebuilding");
                    None
                }
            },
            None => None,
        };
        let loaded = match loaded {
            Some(loaded) if !checkpoint_matches_log(log, &loaded)? => {
                tracing::warn!("the projection checkpoint does not match the log; rebuilding");
                None
            }
            loaded => loaded,
        };
        let resumed = loaded.as_ref().map(checkpoint::Loaded::position);
        let (mut model, started_from) = match loaded {
            Some(loaded) => {
                let checkpoint_seq = loaded.model.last_seq();
                (loaded.model, StartedFrom::Checkpoint { checkpoint_seq })
            }
            None => (
                ReadModel::expecting(log.stream_lengths()),
                StartedFrom::Rebuild,
            ),
        };
        let checkpoints = match checkpoint_dir {
            Some(dir) => {
                let checkpoints = match resumed {
                    Some(saved) => Checkpoints::resume(dir, saved),
                    None => Checkpoints::new(dir),
                };
                let saver = Saver::start(checkpoints).map_err(ProjectionError::SaverThread)?;
                Some(Arc::new(saver))
            }
            None => None,
        };
        catch_up(log, &mut model, progress)?;
        let (applied, _) = watch::channel(model.last_seq());
        Ok(Projector {
            model: Arc::new(RwLock::new(model)),
            applied,
            folding: Arc::default(),
            stopped: Arc::default(),
            checkpoints,
            started_from,
        })
    }

    pub fn started_from(&self) -> StartedFrom {
        self.started_from
    }

    /// Follows the log from where the model is, folding whenever its published head moves,
    /// until the log is closed. Once the log has been quiet for `QUIET_BEFORE_SAVE` (2 s), the
    /// checkpoint is brought up to date in the background (after a rebuild or a start from an
    /// older checkpoint too).
    pub fn follow(&self, log: Log) -> JoinHandle<()> {
        let projector = self.clone();
        // What the checkpoint holds, or has been asked to hold.
        let mut asked = match self.started_from {
            StartedFrom::Checkpoint { checkpoint_seq } => checkpoint_seq,
            StartedFrom::Rebuild => 0,
        };
        tokio::spawn(async move {
            let mut head = log.watch_head();
            loop {
                projector.fold_all(&log).await;
                let changed = match tokio::time::timeout(QUIET_BEFORE_SAVE, head.changed()).await {
                    Ok(changed) => changed,
                    Err(_quiet) => {
                        let seq = projector.last_seq();
                        if seq > asked {
                            projector.save_in_background(&log, seq);
                            asked = seq;
                        }
                        head.changed().await
                    }
                };
                if changed.is_err() {
                    // Closed: whatever was published before is durable; fold it and stop.
                    projector.fold_all(&log).await;
                    return;
                }
            }
        })
    }

    /// Folds every published event, a page at a time, letting other tasks run between pages.
    async fn fold_all(&self, log: &Log) {
        let mut folding = self.folding.lock().await;
        while let Turn::Page = self.fold_page(log, &mut folding) {
            tokio::task::yield_now().await;
        }
    }

    /// Waits until the model has folded `seq`, an event the log has published, so a client
    /// reads its own write. If nobody is folding, the caller folds the published events itself,
    /// a page at a time until `seq` is in: on a busy runtime the follower task's turn can come a
    /// scheduler queue later, while whoever gets here first folds everything published so far.
    /// Returns at once if folding has stopped (an event the build cannot read): the model will
    /// not get there.
    pub async fn reach(&self, log: &Log, seq: u64) {
        while self.last_seq() < seq && !self.stopped.load(Ordering::Acquire) {
            let mut folding = match self.folding.try_lock() {
                Ok(folding) => folding,
                // Someone is folding, and announces each page. It may have read its last page
                // just before `seq` was published, so wait for the lock too, not only the news.
                Err(_) => tokio::select! {
                    biased;
                    () = self.wait_for(seq) => return,
                    folding = self.folding.lock() => folding,
                },
            };
            self.fold_page(log, &mut folding);
            drop(folding);
            if self.last_seq() < seq {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Folds the next page of published events the model lacks, and announces it. An event
    /// that cannot be read stops folding for good, after the events before it.
    fn fold_page(&self, log: &Log, folding: &mut Folding) -> Turn {
        if self.stopped.load(Ordering::Acquire) {
            return Turn::Done;
        }
        let page = match log.read_all(self.last_seq(), FOLD_PAGE) {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "the projections stopped following the log");
                self.stopped.store(true, Ordering::Release);
                return Turn::Done;
            }
        };
        if page.is_empty() {
            return Turn::Done;
        }
        let mut entries = Vec::with_capacity(page.len());
        let mut unreadable = None;
        for stored in &page {
            match decode::entry(stored, &mut folding.actors) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    unreadable = Some(e);
                    break;
                }
            }
        }
        // Decoded before the lock is taken, so readers wait only for the folding.
        let last = entries.last().map(|(_, e)| e.seq);
        {
            let mut model = self.write();
            for (stream, entry) in entries {
                model.apply_entry(stream, entry);
            }
        }
        if let Some(last_seq) = last {
            self.applied.send_replace(last_seq);
        }
        if let Some(e) = unreadable {
            // The log is the truth; a build that cannot read an event must say so loudly
            // rather than serve a picture that silently leaves it out.
            tracing::error!(error = %e, "the projections cannot read an event; stopping");
            self.stopped.store(true, Ordering::Release);
        }
        Turn::Page
    }

    /// Asks the saving thread to bring the checkpoint up to `seq` (it does nothing if the
    /// checkpoint is there already). Never waits: a save in progress holds the checkpoint.
    fn save_in_background(&self, log: &Log, seq: u64) {
        if let Some(saver) = &self.checkpoints {
            saver.ask(log, seq);
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ReadModel> {
        self.model
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The read model, for queries. Hold it briefly: folding waits while it is held, and so does
    /// every reader that finds the model behind the log.
    pub fn read(&self) -> RwLockReadGuard<'_, ReadModel> {
        self.model
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn last_seq(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the model has folded `seq`, so a client reads its own writes.
    pub async fn wait_for(&self, seq: u64) {
        let mut receiver = self.applied.subscribe();
        // The sender lives as long as this projector, so the wait ends only when reached.
        let _ = receiver.wait_for(|&applied| applied >= seq).await;
    }

    /// Saves what the checkpoint lacks of the model as it is, on the caller's thread (at
    /// graceful shutdown, and by `stocktake verify`).
    pub fn save_checkpoint(&self, log: &Log) -> Result<(), ProjectionError> {
        let Some(saver) = &self.checkpoints else {
            return Ok(());
        };
        let checkpoints = saver.checkpoints();
        let seq = self.read().last_seq();
        if seq == 0 || checkpoints.saved_seq() >= seq {
            return Ok(());
        }
        checkpoints.save(log, seq)?;
        Ok(())
    }
}

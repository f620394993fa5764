//! The sync stage: the second half of a group commit.
//!
//! The writer hands over each group as soon as the journal has it. This
//! thread takes every group waiting, makes them durable with one
//! `fdatasync` of the journal, waits until the writer has also put them
//! into sled ([`Applied`]; the writer does that meanwhile), publishes the
//! new head to readers and subscribers, and only then answers the callers,
//! in order. While it waits for the disk, the writer inserts and then
//! decides and writes the next group. Barriers and imports, which the
//! writer sends after flushing sled, also make sled's own files durable
//! ([`Syncer::sync`]).
//!
//! If the fsync fails, nothing waiting is acknowledged and the log refuses
//! all further writes: after a failed fsync the kernel may have dropped the
//! dirty pages, so a later fsync that succeeds proves nothing.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use crate::applied::Applied;
use crate::durable::Syncer;
use crate::journal::JournalSync;
use crate::record::Hash;
use crate::shared::Shared;
use crate::writer::{Ack, Reply};
use crate::{AppendError, AppendOutcome, LogError};

/// Work for the sync stage, in the order the writer did it.
pub(crate) enum Durable {
    /// A group in the journal and in sled: publish its head, then answer.
    Group {
        last_seq: u64,
        hash: Hash,
        replies: Vec<(Reply, Result<AppendOutcome, AppendError>)>,
        events: u64,
    },
    /// A finished import (its index already in place): publish the head.
    Import { last_seq: u64, hash: Hash, ack: Ack },
    /// sled is flushed up to here; answer once it is durable.
    Barrier(Ack),
}

impl Durable {
    /// Answers everyone waiting on this item with `error`.
    pub(crate) fn fail(self, error: &LogError) {
        let refusal = || error.refusal();
        match self {
            Durable::Group { replies, .. } => {
                for (reply, _) in replies {
                    reply.send(Err(AppendError::Storage(refusal())));
                }
            }
            Durable::Import { ack, .. } | Durable::Barrier(ack) => drop(ack.send(Err(refusal()))),
        }
    }

    /// The seq sled must hold before this item is published.
    fn needs_seq(&self) -> u64 {
        match self {
            Durable::Group {
                last_seq, events, ..
            } if *events > 0 => *last_seq,
            _ => 0,
        }
    }

    /// Whether sled's own files must be synced, not just the journal.
    fn needs_store_sync(&self) -> bool {
        !matches!(self, Durable::Group { .. })
    }

    fn complete(self, shared: &Shared) {
        match self {
            Durable::Group {
                last_seq,
                hash,
                replies,
                events,
            } => {
                if events > 0 {
                    let written = replies
                        .iter()
                        .filter(|(_, r)| r.as_ref().is_ok_and(|o| !o.duplicate))
                        .count();
                    shared.count_group(written as u64, events);
                    shared.publish(last_seq, hash);
                }
                for (reply, result) in replies {
                    reply.send(result);
                }
            }
            Durable::Import {
                last_seq,
                hash,
                ack,
            } => {
                shared.publish(last_seq, hash);
                let _ = ack.send(Ok(()));
            }
            Durable::Barrier(ack) => drop(ack.send(Ok(()))),
        }
    }
}

pub(crate) fn run(
    shared: Arc<Shared>,
    mut syncer: Syncer,
    journal: JournalSync,
    applied: &Applied,
    rx: Receiver<Durable>,
) {
    // Once an fsync has failed, no later one proves anything (see the module's docs).
    let mut fsync_failed = false;
    while let Ok(first) = rx.recv() {
        let mut items = vec![first];
        items.extend(rx.try_iter());
        let store_too = items.iter().any(Durable::needs_store_sync);
        let inserted_up_to = items.iter().map(Durable::needs_seq).max().unwrap_or(0);
        // A group the writer put into the journal and the store is acknowledged once the
        // journal is synced, even if the writer has failed since (at a later group, or making
        // the store durable at a checkpoint): the next open would apply it from the journal
        // anyway, so refusing it would tell its caller it was not appended when it was.
        let synced = if fsync_failed {
            shared.failure().and(Err(LogError::WriterFailed {
                reason: "an earlier fsync of the journal failed".to_owned(),
            }))
        } else {
            journal
                .sync()
                .and_then(|()| if store_too { syncer.sync() } else { Ok(()) })
                .inspect_err(|_| fsync_failed = true)
        }
        .and_then(|()| {
            if applied.wait_for(inserted_up_to) {
                return Ok(());
            }
            shared.failure().and(Err(LogError::WriterFailed {
                reason: "a group could not be put into the store".to_owned(),
            }))
        });
        match synced {
            Ok(()) => {
                if items.iter().any(|item| item.needs_seq() > 0) {
                    shared.count_sync();
                }
                items.into_iter().for_each(|item| item.complete(&shared));
            }
            Err(e) => {
                shared.fail(e.failure_reason());
                items.into_iter().for_each(|item| item.fail(&e));
            }
        }
    }
    shared.close();
}

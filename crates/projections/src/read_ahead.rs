//! Reading on one thread while the caller folds on another.
//!
//! Building the read model from the log is two parts: reading and decoding (sled, the log's
//! records, the payloads' JSON), about two thirds of the work, and folding, the rest. On two
//! cores they run side by side, and a rebuild takes about as long as the reading rather than
//! the sum of both.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// How many items travel together from the reading thread to the folding one.
const BATCH: usize = 1024;

/// How many batches the reading thread may be ahead of the folding one.
const QUEUE: usize = 4;

/// Where the reading thread puts what it has read.
pub(crate) struct Batches<T> {
    sender: SyncSender<Vec<T>>,
    batch: Vec<T>,
}

impl<T> Batches<T> {
    /// Hands on one item; `false` once the folding side has stopped listening, when reading on
    /// is wasted.
    pub(crate) fn push(&mut self, item: T) -> bool {
        self.batch.push(item);
        if self.batch.len() < BATCH {
            return true;
        }
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.sender.send(full).is_ok()
    }
}

impl<T> Drop for Batches<T> {
    /// The last, partly filled batch goes too, whichever way the reader stops.
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            let _ = self.sender.send(std::mem::take(&mut self.batch));
        }
    }
}

/// Runs `read` on a thread named `name`, and `fold` on the caller's thread over the items `read`
/// pushes, in order. `fold` may stop early: the reader then stops when it next hands on a full
/// batch. A panic in `read` is raised again in the caller once `fold` has returned (to `fold`,
/// the items simply end). Fails only if the thread cannot be started.
pub(crate) fn read_ahead<T, R>(
    name: &str,
    read: impl FnOnce(&mut Batches<T>) + Send,
    fold: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> std::io::Result<R>
where
    T: Send,
{
    std::thread::scope(|scope| {
        let (sender, receiver): (_, Receiver<Vec<T>>) = sync_channel(QUEUE);
        let reader = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, move || {
                let mut batches = Batches {
                    sender,
                    batch: Vec::with_capacity(BATCH),
                };
                read(&mut batches);
            })?;
        // The receiver goes with this statement, so a reader still going stops.
        let folded = fold(&mut receiver.into_iter().flatten());
        if let Err(panic) = reader.join() {
            // With the reader's own message, not the scope's "a scoped thread panicked".
            std::panic::resume_unwind(panic);
        }
        Ok(folded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_item_arrives_in_order_including_a_last_partial_batch() {
        let count = 3 * BATCH + 17;
        let items = read_ahead(
            "test-reader",
            |out| {
                for i in 0..count {
                    assert!(out.push(i));
                }
            },
            |items| items.collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(items, (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn a_panic_in_the_reader_reaches_the_caller_with_its_own_message() {
        let caught = std::panic::catch_unwind(|| {
            read_ahead(
                "test-reader",
                |out| {
                    for i in 0..2 * BATCH + 5 {
                        out.push(i);
                    }
                    panic!("the store went away");
                },
                |items| items.count(),
            )
        })
        .expect_err("the reader's panic is raised again");
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"the store went away"));
    }

    #[test]
    fn a_fold_that_stops_early_stops_the_reader() {
        let pushed = AtomicUsize::new(0);
        let taken = read_ahead(
            "test-reader",
            |out| {
                // Bounded, so that a reader that never hears of it fails the test, not hangs it.
                for i in 0..100 * BATCH {
                    pushed.fetch_add(1, Ordering::Relaxed);
                    if !out.push(i) {
                        return;
                    }
                }
            },
            |items| items.take(10).count(),
        )
        .unwrap();
        assert_eq!(taken, 10);
        // At most the batch the fold was reading, the queue's, and the one whose sending told
        // the reader that nobody listens.
        assert!(
            pushed.load(Ordering::Relaxed) <= (QUEUE + 2) * BATCH,
            "{}",
            pushed.load(Ordering::Relaxed)
        );
    }
}

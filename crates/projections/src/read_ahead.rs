//! Reading on one thread while the caller folds on another.
//!
//! Building the read model from the log is two parts: reading and decoding (sled, the log's
//! records, the payloads' JSON), about three quarters of the work, and folding, the rest. On two
//! cores they run side by side, and a rebuild takes about as long as the reading rather than
//! the sum of both.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// How many batches the reading thread may be ahead of the folding one.
const QUEUE: usize = 4;

/// Items that travel together from the reading thread to the folding one.
pub(crate) trait Batch: Send {
    type Item;
    fn with_capacity(items: usize) -> Self;
    fn push(&mut self, item: Self::Item);
    fn len(&self) -> usize;
}

/// How many items go in each batch: the first may be shorter, so that the batches after it line
/// up with the chunks that the folding side keeps them in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSizes {
    pub(crate) first: usize,
    pub(crate) rest: usize,
}

/// Where the reading thread puts what it has read.
pub(crate) struct Batches<B: Batch> {
    sender: SyncSender<B>,
    batch: B,
    /// The size of the batch being filled.
    size: usize,
    rest: usize,
}

impl<B: Batch> Batches<B> {
    /// Hands on one item; `false` once the folding side has stopped listening, when reading on
    /// is wasted.
    pub(crate) fn push(&mut self, item: B::Item) -> bool {
        self.batch.push(item);
        if self.batch.len() < self.size {
            return true;
        }
        self.size = self.rest;
        let full = std::mem::replace(&mut self.batch, B::with_capacity(self.rest));
        self.sender.send(full).is_ok()
    }
}

impl<B: Batch> Drop for Batches<B> {
    /// The last, partly filled batch goes too, whichever way the reader stops.
    fn drop(&mut self) {
        if self.batch.len() > 0 {
            let last = std::mem::replace(&mut self.batch, B::with_capacity(0));
            let _ = self.sender.send(last);
        }
    }
}

/// Runs `read` on a thread named `name`, and `fold` on the caller's thread over the batches
/// `read` fills, in order; returns what each returned. `fold` may stop early: the reader then
/// stops when it next hands on a full batch. A panic in `read` is raised again in the caller
/// once `fold` has returned (to `fold`, the batches simply end). Fails only if the thread
/// cannot be started.
pub(crate) fn read_ahead<B, Q, R>(
    name: &str,
    sizes: BatchSizes,
    read: impl FnOnce(&mut Batches<B>) -> Q + Send,
    fold: impl FnOnce(&mut dyn Iterator<Item = B>) -> R,
) -> std::io::Result<(R, Q)>
where
    B: Batch,
    Q: Send,
{
    let first = sizes.first.max(1);
    let rest = sizes.rest.max(1);
    std::thread::scope(|scope| {
        let (sender, receiver): (_, Receiver<B>) = sync_channel(QUEUE);
        let reader = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, move || {
                let mut batches = Batches {
                    sender,
                    batch: B::with_capacity(first),
                    size: first,
                    rest,
                };
                read(&mut batches)
            })?;
        // The receiver goes with this statement, so a reader still going stops.
        let folded = fold(&mut receiver.into_iter());
        match reader.join() {
            Ok(read) => Ok((folded, read)),
            // With the reader's own message, not the scope's "a scoped thread panicked".
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const BATCH: usize = 1024;

    impl<T: Send> Batch for Vec<T> {
        type Item = T;

        fn with_capacity(items: usize) -> Self {
            Vec::with_capacity(items)
        }

        fn push(&mut self, item: T) {
            Vec::push(self, item);
        }

        fn len(&self) -> usize {
            Vec::len(self)
        }
    }

    fn sizes(first: usize) -> BatchSizes {
        BatchSizes { first, rest: BATCH }
    }

    #[test]
    fn every_item_arrives_in_order_in_batches_lined_up_after_the_first() {
        let count = 3 * BATCH + 17;
        let (batches, ()) = read_ahead(
            "test-reader",
            sizes(100),
            |out: &mut Batches<Vec<usize>>| {
                for i in 0..count {
                    assert!(out.push(i));
                }
            },
            |batches| batches.collect::<Vec<_>>(),
        )
        .unwrap();
        let lengths: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(lengths, [100, BATCH, BATCH, count - 100 - 2 * BATCH]);
        let items: Vec<usize> = batches.into_iter().flatten().collect();
        assert_eq!(items, (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn the_reader_returns_what_it_read_to_the_caller() {
        let (folded, read) = read_ahead(
            "test-reader",
            sizes(BATCH),
            |out: &mut Batches<Vec<u32>>| {
                out.push(7);
                Err::<(), _>("the store went away at 2")
            },
            |batches| batches.flatten().sum::<u32>(),
        )
        .unwrap();
        assert_eq!((folded, read), (7, Err("the store went away at 2")));
    }

    #[test]
    fn a_panic_in_the_reader_reaches_the_caller_with_its_own_message() {
        let caught = std::panic::catch_unwind(|| {
            read_ahead(
                "test-reader",
                sizes(BATCH),
                |out: &mut Batches<Vec<usize>>| {
                    for i in 0..2 * BATCH + 5 {
                        out.push(i);
                    }
                    panic!("the store went away");
                },
                |batches| batches.flatten().count(),
            )
        })
        .expect_err("the reader's panic is raised again");
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"the store went away"));
    }

    #[test]
    fn a_fold_that_stops_early_stops_the_reader() {
        let pushed = AtomicUsize::new(0);
        let (taken, ()) = read_ahead(
            "test-reader",
            sizes(BATCH),
            |out: &mut Batches<Vec<usize>>| {
                // Bounded, so that a reader that never hears of it fails the test, not hangs it.
                for i in 0..100 * BATCH {
                    pushed.fetch_add(1, Ordering::Relaxed);
                    if !out.push(i) {
                        return;
                    }
                }
            },
            |batches| batches.flatten().take(10).count(),
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

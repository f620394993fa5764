//! How far the writer has put groups into sled.
//!
//! The writer hands a group to the sync stage as soon as the journal has
//! it, and inserts it into sled while the sync stage waits for the disk, so
//! the `fdatasync` and the inserts overlap. Readers find events in sled, so
//! the sync stage publishes a group only once it is both durable and here.

use std::sync::{Condvar, Mutex, PoisonError};

#[derive(Debug)]
pub(crate) struct Applied {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Every event up to this seq is in sled, and in the stream index.
    seq: u64,
    /// The writer failed to put a group into sled; nothing more will come.
    failed: bool,
}

impl Applied {
    pub(crate) fn new(seq: u64) -> Applied {
        Applied {
            state: Mutex::new(State { seq, failed: false }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn advance(&self, seq: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.seq = state.seq.max(seq);
        self.changed.notify_all();
    }

    pub(crate) fn fail(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failed = true;
        self.changed.notify_all();
    }

    /// Waits until every event up to `seq` is in sled: `false` if the
    /// writer failed first.
    pub(crate) fn wait_for(&self, seq: u64) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .changed
            .wait_while(state, |s| s.seq < seq && !s.failed)
            .unwrap_or_else(PoisonError::into_inner);
        state.seq >= seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_waiter_is_released_by_the_seq_it_needs_or_by_a_failure() {
        let applied = Arc::new(Applied::new(3));
        assert!(applied.wait_for(3));
        let waiter = {
            let applied = applied.clone();
            std::thread::spawn(move || applied.wait_for(10))
        };
        applied.advance(9);
        applied.advance(10);
        assert!(waiter.join().unwrap());

        let waiter = {
            let applied = applied.clone();
            std::thread::spawn(move || applied.wait_for(20))
        };
        applied.fail();
        assert!(!waiter.join().unwrap());
        assert!(applied.wait_for(10), "what was applied stays applied");
    }
}

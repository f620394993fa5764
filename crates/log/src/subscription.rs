//! Live feeds: catch up from disk, then follow new appends.
//!
//! A subscription keeps a cursor (the last seq it handed out) and always
//! reads the next events from sled, capped at the published head. Live
//! events are not pushed through a channel; the writer only announces a new
//! head and the subscription reads up to it. So catching up and following
//! are the same code path, and there is nothing to reconcile at the seam:
//! no gaps, no duplicates, and a slow subscriber cannot make the writer
//! buffer.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;

use crate::shared::{Shared, Signal};
use crate::{LogError, StoredEvent};

/// How many events one disk read fetches.
const PAGE: usize = 512;

/// A live feed of events after a sequence number. Made by
/// [`Log::subscribe`](crate::Log::subscribe).
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    signal: watch::Receiver<Signal>,
    cursor: u64,
    buffer: VecDeque<StoredEvent>,
    upcast: bool,
}

impl Subscription {
    pub(crate) fn new(shared: Arc<Shared>, after_seq: u64, upcast: bool) -> Subscription {
        let signal = shared.watch();
        Subscription {
            shared,
            signal,
            cursor: after_seq,
            buffer: VecDeque::new(),
            upcast,
        }
    }

    /// The next event, waiting for one to be appended if the subscriber has
    /// caught up. Fails with [`LogError::Closed`] once the log is closed and
    /// every durable event has been delivered.
    ///
    /// Cancel-safe: if the future is dropped (e.g. in `tokio::select!`), no
    /// event is lost; the next call returns it.
    pub async fn next(&mut self) -> Result<StoredEvent, LogError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.cursor = event.seq;
                return Ok(event);
            }
            // Mark the signal seen *before* reading the head, so an append
            // published after this read still wakes the `changed` below.
            let closed = self.signal.borrow_and_update().closed;
            if self.shared.last_seq() > self.cursor {
                let page = self.shared.read_all(self.cursor, PAGE, self.upcast)?;
                self.buffer.extend(page);
                continue;
            }
            if closed || self.signal.changed().await.is_err() {
                return Err(LogError::Closed);
            }
        }
    }

    /// The seq of the last event handed out (or the starting point).
    pub fn position(&self) -> u64 {
        self.cursor
    }
}

/// Tells a follower that the log's published head may have moved, without reading any event: for a
/// follower that reads from a position others may move too (the projections, which a reader
/// waiting for the events published before it can fold ahead of their follower). Made by
/// [`Log::watch_head`](crate::Log::watch_head).
#[derive(Debug)]
pub struct HeadWatch {
    signal: watch::Receiver<Signal>,
}

impl HeadWatch {
    pub(crate) fn new(shared: &Shared) -> HeadWatch {
        HeadWatch {
            signal: shared.watch(),
        }
    }

    /// Waits until the log's published state has changed since this watch last looked (at
    /// first, since it was made) and returns the head's seq. Several appends between two
    /// calls are one wake-up, and writes stopping wakes it with the head unchanged: a follower
    /// reads whatever is past its own position, and may find nothing. Fails with
    /// [`LogError::Closed`] once the log is closed; every event published before then is
    /// durable and readable. Cancel-safe.
    pub async fn changed(&mut self) -> Result<u64, LogError> {
        if self.signal.changed().await.is_err() {
            return Err(LogError::Closed);
        }
        let signal = *self.signal.borrow_and_update();
        if signal.closed {
            return Err(LogError::Closed);
        }
        Ok(signal.last_seq)
    }
}

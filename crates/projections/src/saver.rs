//! Checkpoint saves in the background, on one thread at the lowest CPU priority.
//!
//! A save reads back, writes out and syncs every event folded since the previous one, a
//! couple of microseconds an event. Beside busy serving threads that cost commands their
//! latency even at nice 19, so the follower asks for a save only once the log has been quiet
//! for a while (`runner.rs`); the low priority is for a save that a new burst of commands
//! overtakes. A checkpoint is a cache for the next start: one that lags behind costs only a
//! longer replay then. Saves asked for while one runs are done as one, up to the latest.
//!
//! Threads inherit their maker's priority: a thread that sled's pool starts while this one is
//! reading would run at nice 19 too. Reads rarely queue work there, and such extra threads end
//! when idle. At graceful shutdown the final save waits for a background one to finish, which
//! then has the CPU to itself.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use stocktake_log::Log;

use crate::checkpoint::Checkpoints;

/// The niceness of the saving thread: the lowest priority a thread can give itself.
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 19;

/// A save asked for: the model's events up to `upto`, read from `log`.
struct Due {
    log: Log,
    upto: u64,
}

/// The checkpoints, with the handle to the thread that saves them. The thread ends once the
/// handle is dropped and the saves asked for are done.
#[derive(Debug)]
pub(crate) struct Saver {
    checkpoints: Arc<Checkpoints>,
    due: Sender<Due>,
}

impl Saver {
    pub(crate) fn start(checkpoints: Checkpoints) -> std::io::Result<Saver> {
        let checkpoints = Arc::new(checkpoints);
        let (due, asked) = mpsc::channel();
        let saved_by_thread = Arc::clone(&checkpoints);
        std::thread::Builder::new()
            .name("stocktake-checkpoint".to_owned())
            .spawn(move || save_as_asked(&saved_by_thread, &asked))?;
        Ok(Saver { checkpoints, due })
    }

    /// For a save on the caller's thread, which waits for a background one to finish.
    pub(crate) fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    /// Asks for the model's events up to `upto` to be saved, and returns at once.
    pub(crate) fn ask(&self, log: &Log, upto: u64) {
        // The thread outlives every sender unless a save panicked past its guard.
        if self
            .due
            .send(Due {
                log: log.clone(),
                upto,
            })
            .is_err()
        {
            tracing::warn!("the checkpoint thread has stopped; checkpoints wait for a restart");
        }
    }
}

fn save_as_asked(checkpoints: &Checkpoints, asked: &Receiver<Due>) {
    lower_priority();
    while let Ok(mut due) = asked.recv() {
        for later in asked.try_iter() {
            if later.upto > due.upto {
                due = later;
            }
        }
        // A panic in one save must not end the thread, or no checkpoint would be saved again.
        let saved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            checkpoints.save(&due.log, due.upto)
        }));
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not save the projection checkpoint"),
            Err(_) => tracing::error!("saving the projection checkpoint panicked"),
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux a thread id given to setpriority names that one thread (elsewhere it would name
    // the whole process, so other systems keep the default priority).
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), BACKGROUND_NICE) {
        tracing::debug!(error = %e, "could not lower the checkpoint thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_saving_thread_runs_at_the_lowest_priority_and_the_others_keep_theirs() {
        let before = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let lowered = std::thread::spawn(|| {
            lower_priority();
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, BACKGROUND_NICE);
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, before, "only the saving thread is lowered");
    }
}

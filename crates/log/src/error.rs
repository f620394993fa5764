//! The three error types: storage-level [`LogError`], the expected outcomes
//! of a refused append ([`AppendError`]) and of a refused import
//! ([`ImportError`]).

use std::path::PathBuf;

use uuid::Uuid;

/// Something went wrong with the log's storage or its stored bytes.
///
/// The gateway maps every variant to "storage unavailable" (503): none of
/// them is the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Another process (or another `Log` in this process) has the data
    /// directory open.
    #[error(
        "the data directory {} is already in use by another Stocktake process{}; \
         stop that process or choose another directory",
        dir.display(),
        holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// What the lock file says about its holder, if anything.
        holder: Option<String>,
    },
    /// A file-system operation on the data directory failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the log was doing, e.g. "could not create the data directory".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// sled reported an error.
    #[error("the event store in {} failed while {action}: {source}", dir.display())]
    Sled {
        /// What the log was doing.
        action: &'static str,
        /// The data directory.
        dir: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// The data directory holds something that is not a Stocktake event log
    /// of a format this build understands.
    #[error("the data directory {} {reason}", dir.display())]
    Format {
        /// The data directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored record could not be read back: the stored bytes are damaged.
    /// Run `verify` for a full report.
    #[error("stored event {seq} is unreadable: {reason}")]
    Corrupt {
        /// The sequence number of the damaged event.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A registered upcaster refused a stored event.
    #[error("upcasting event {seq} ({event_type} v{schema_version}) failed: {reason}")]
    Upcast {
        /// The event's sequence number.
        seq: u64,
        /// The event type as stored.
        event_type: String,
        /// The schema version as stored.
        schema_version: u32,
        /// The upcaster's explanation.
        reason: String,
    },
    /// An earlier write failed, so the writer stopped accepting appends to
    /// keep the chain and the disk from diverging. Reopen the log.
    #[error("the event log stopped accepting writes after an earlier failure: {reason}")]
    WriterFailed {
        /// The failure that stopped the writer.
        reason: String,
    },
    /// An import is running; appends resume when it ends.
    #[error("the event log is importing an export file; try again when the import has finished")]
    ImportInProgress,
    /// Writing an export failed.
    #[error("could not write the export: {0}")]
    Export(#[source] std::io::Error),
    /// The log has been closed (every `Log` handle was dropped).
    #[error("the event log has been closed")]
    Closed,
}

impl LogError {
    /// What an append is refused with once writes have stopped because of `self`: the writer's
    /// refusal naming the failure that stopped it, once, however many hands it has passed
    /// through.
    pub(crate) fn refusal(&self) -> LogError {
        LogError::WriterFailed {
            reason: self.failure_reason(),
        }
    }

    /// Why writes stop because of `self`: the first failure's own words, not a refusal's.
    pub(crate) fn failure_reason(&self) -> String {
        match self {
            LogError::WriterFailed { reason } => reason.clone(),
            other => other.to_string(),
        }
    }

    /// Turns sled's error while doing `action` in `dir` into a [`LogError::Sled`].
    pub(crate) fn sled(
        action: &'static str,
        dir: &std::path::Path,
    ) -> impl FnOnce(sled::Error) -> LogError {
        let dir = dir.to_path_buf();
        move |source| LogError::Sled {
            action,
            dir,
            source,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LogError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why an append was refused. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream is not at the version the caller expected: somebody else
    /// appended first. Reload the stream and decide again.
    #[error(
        "stream {stream_id} is at version {current}, but the command expected version {expected}"
    )]
    Conflict {
        /// The stream.
        stream_id: Uuid,
        /// The version the command expected.
        expected: u64,
        /// The stream's version now.
        current: u64,
    },
    /// The command id was used before for a different request.
    #[error("command {command_id} was already used for a different request")]
    IdempotencyMismatch {
        /// The reused command id.
        command_id: Uuid,
    },
    /// The request itself is malformed (no events, stream type mismatch,
    /// oversized fields).
    #[error("invalid append: {0}")]
    Invalid(String),
    /// The log could not store the events (disk full, writer gone, ...).
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// Why an import was refused. Nothing was kept in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target log already has events.
    #[error("import needs an empty event log, but this one already holds {events} events")]
    NotEmpty {
        /// How many events the log holds.
        events: u64,
    },
    /// A line of the file is malformed, out of order, or fails the hash
    /// chain.
    #[error("line {line} of the import file: {reason}")]
    Line {
        /// The 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The log failed while storing the import, or the input could not be
    /// read.
    #[error(transparent)]
    Log(#[from] LogError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_first_failure_once() {
        let failure = LogError::Corrupt {
            seq: 7,
            reason: "bad".to_owned(),
        };
        let refused = failure.refusal();
        let again = refused.refusal().refusal();
        assert_eq!(again.to_string(), refused.to_string());
        let text = refused.to_string();
        assert_eq!(
            text.matches("stopped accepting writes").count(),
            1,
            "{text}"
        );
        assert!(text.ends_with(&failure.to_string()), "{text}");
    }
}

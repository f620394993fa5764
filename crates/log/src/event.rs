//! The public data types: what callers append and what they read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// The hash that the first event links to, and the head hash of an empty
/// log: 64 zero hex digits.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event as the caller hands it to [`Log::append`](crate::Log::append).
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Unique id of this event.
    pub event_id: Uuid,
    /// Event type name, PascalCase, e.g. `ActionStatusChanged`.
    pub event_type: String,
    /// Version of the payload's schema, for upcasting on read.
    pub schema_version: u32,
    /// When the system recorded the fact (caller-supplied; not required to
    /// be monotonic).
    pub recorded_at: DateTime<Utc>,
    /// When the fact took effect in the world.
    pub effective_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: String,
    /// Groups the events of one user journey.
    pub correlation_id: Uuid,
    /// The payload, stored byte for byte.
    pub data: Box<RawValue>,
}

/// The stream an append goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamRef {
    /// The kind of aggregate: "plan", "action", "measure", "visit", ...
    /// A stream keeps the type it was created with.
    pub stream_type: String,
    /// The aggregate's id.
    pub stream_id: Uuid,
}

/// The optimistic-concurrency check of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must be at exactly this version; `Exactly(0)` means the
    /// stream must not exist yet.
    Exactly(u64),
}

/// Everything one command wants to write.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// Target stream.
    pub stream: StreamRef,
    /// Concurrency check, evaluated atomically with the write.
    pub expected_version: ExpectedVersion,
    /// The events, at least one. Written all or none.
    pub events: Vec<NewEvent>,
    /// Idempotency key: a retry with the same id returns the first result.
    pub command_id: Uuid,
    /// Digest of the request as the caller understands it (e.g. BLAKE3 of
    /// the command's canonical JSON). Reusing `command_id` with a different
    /// digest is an [`AppendError::IdempotencyMismatch`](crate::AppendError).
    pub request_digest: [u8; 32],
}

/// One event of an [`AppendOutcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendedEvent {
    /// Global sequence number.
    pub seq: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// The stream's version after this event.
    pub stream_version: u64,
}

/// The result of a successful (or repeated) append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// The stream written to.
    pub stream_id: Uuid,
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The appended events in order.
    pub events: Vec<AppendedEvent>,
    /// The chain hash after this command's last event.
    pub head_hash: String,
    /// `true` when the command id had been seen before and nothing was
    /// written now.
    pub duplicate: bool,
}

impl AppendOutcome {
    /// Sequence number of the command's last event.
    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// The end of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last durable sequence number; 0 for an empty log.
    pub last_seq: u64,
    /// The chain hash of the last event; [`GENESIS_HASH`] for an empty log.
    pub head_hash: String,
}

/// An event as stored, and the public JSON envelope (export lines and the
/// HTTP event feed). Field order here is the order in the JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredEvent {
    /// Global sequence number, from 1, gap-free.
    pub seq: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The stream's id.
    pub stream_id: Uuid,
    /// The stream's type.
    pub stream_type: String,
    /// The stream's version after this event, from 1.
    pub stream_version: u64,
    /// When the system recorded the fact.
    pub recorded_at: DateTime<Utc>,
    /// When the fact took effect.
    pub effective_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: String,
    /// The command that produced it.
    pub command_id: Uuid,
    /// Groups the events of one user journey.
    pub correlation_id: Uuid,
    /// Schema version of `data`.
    pub schema_version: u32,
    /// Event type name.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload, byte for byte as appended (or as upcast on read).
    pub data: Box<RawValue>,
    /// Chain hash of the previous event (lowercase hex).
    pub prev_hash: String,
    /// Chain hash of this event (lowercase hex).
    pub hash: String,
}

impl StoredEvent {
    /// Whether the payload is on one line, as an export writes it and as appends have had to
    /// be since the log refused line breaks between a payload's tokens; a log written before
    /// may still hold one that is not.
    pub fn data_on_one_line(&self) -> bool {
        !crate::record::breaks_lines(self.data.get())
    }
}

/// What [`Log::verify`](crate::Log::verify) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// `true` when every event checked out.
    pub ok: bool,
    /// How many events were checked and found good.
    pub events: u64,
    /// The chain hash after the last good event.
    pub head_hash: String,
    /// The first sequence number whose bytes, hash or link is wrong.
    pub first_bad_seq: Option<u64>,
    /// What is wrong with it.
    pub problem: Option<String>,
}

/// Counters of the writer since the log was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMetrics {
    /// Groups committed: each one frame of the journal, one sled key, and an fsync that
    /// covers it and every other group waiting when it began.
    pub groups: u64,
    /// Appends written (duplicates and refusals are not counted).
    pub commands: u64,
    /// Events written.
    pub events: u64,
    /// `fdatasync`s of the journal that made groups durable.
    #[serde(default)]
    pub syncs: u64,
}

impl LogMetrics {
    /// Mean appends per group commit.
    pub fn mean_group_size(&self) -> f64 {
        ratio(self.commands, self.groups)
    }

    /// Mean events made durable by one `fdatasync`: the batch the disk sees.
    pub fn mean_events_per_sync(&self) -> f64 {
        ratio(self.events, self.syncs)
    }
}

fn ratio(count: u64, per: u64) -> f64 {
    if per == 0 {
        0.0
    } else {
        count as f64 / per as f64
    }
}

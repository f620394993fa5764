//! The envelope every event travels in: who, when (two clocks), which stream, which command.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::Event;
use crate::stream::StreamRef;

/// A recorded event with its metadata, as projections read it.
///
/// The stored form (with hashes) belongs to the log; this is its typed, upcast reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Position in the global log, from 1, without gaps.
    pub seq: u64,
    pub event_id: Uuid,
    pub stream: StreamRef,
    /// Position in the stream, from 1.
    pub stream_version: u64,
    /// When Stocktake stored the event.
    pub recorded_at: DateTime<Utc>,
    /// When it happened in the world; never after `recorded_at`.
    pub effective_at: DateTime<Utc>,
    /// The name of the token whose command produced it.
    pub actor: String,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub event: Event,
}

impl Envelope {
    /// Whether the event was recorded later than it happened by more than a day: a late entry.
    pub fn is_backdated(&self) -> bool {
        self.recorded_at - self.effective_at > chrono::Duration::days(1)
    }
}

//! From the log's stored events to the domain's typed envelopes.

use serde_json::value::RawValue;
use stocktake_domain::events::CURRENT_SCHEMA_VERSION;
use stocktake_domain::{upcast, Envelope, Event, StreamRef, StreamType};
use stocktake_log::{StoredEvent, Upcaster};

/// A stored event that this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} cannot be read: {reason}")]
pub struct DecodeFailure {
    pub seq: u64,
    pub reason: String,
}

/// The domain's upcasters, registered with the log so that every read is current.
#[derive(Debug, Default, Clone, Copy)]
pub struct DomainUpcaster;

impl Upcaster for DomainUpcaster {
    fn upcast(
        &self,
        event_type: &str,
        schema_version: u32,
        data: &RawValue,
    ) -> Result<Option<(String, u32, Box<RawValue>)>, String> {
        if schema_version == CURRENT_SCHEMA_VERSION {
            return Ok(None);
        }
        let current =
            upcast::upcast(event_type, schema_version, data.get()).map_err(|e| e.to_string())?;
        let data = RawValue::from_string(current.into_owned()).map_err(|e| e.to_string())?;
        Ok(Some((event_type.to_owned(), CURRENT_SCHEMA_VERSION, data)))
    }
}

/// Reads a stored (and already upcast) event as a typed envelope.
pub fn envelope(stored: &StoredEvent) -> Result<Envelope, DecodeFailure> {
    typed(stored, stored.actor.clone())
}

/// [`envelope`] for a stored event that is not needed afterwards (a rebuild): its actor is
/// moved, not copied.
pub fn into_envelope(mut stored: StoredEvent) -> Result<Envelope, DecodeFailure> {
    let actor = std::mem::take(&mut stored.actor);
    typed(&stored, actor)
}

/// The stream a stored event belongs to, as the domain names it.
pub(crate) fn stream_of(stored: &StoredEvent) -> Result<StreamRef, DecodeFailure> {
    let stream_type = StreamType::parse(&stored.stream_type).ok_or_else(|| DecodeFailure {
        seq: stored.seq,
        reason: format!("unknown stream type `{}`", stored.stream_type),
    })?;
    Ok(StreamRef {
        stream_type,
        id: stored.stream_id,
    })
}

fn typed(stored: &StoredEvent, actor: String) -> Result<Envelope, DecodeFailure> {
    let stream = stream_of(stored)?;
    let event =
        Event::decode(&stored.event_type, stored.data.get()).map_err(|e| DecodeFailure {
            seq: stored.seq,
            reason: e.to_string(),
        })?;
    Ok(Envelope {
        seq: stored.seq,
        event_id: stored.event_id,
        stream,
        stream_version: stored.stream_version,
        recorded_at: stored.recorded_at,
        effective_at: stored.effective_at,
        actor,
        command_id: stored.command_id,
        correlation_id: stored.correlation_id,
        event,
    })
}

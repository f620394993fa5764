//! From the log's stored events to the domain's typed envelopes, or the read model's entries.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::value::RawValue;
use stocktake_domain::events::CURRENT_SCHEMA_VERSION;
use stocktake_domain::{upcast, Envelope, Event, StreamRef, StreamType};
use stocktake_log::{StoredEvent, Upcaster};

use crate::timeline::Entry;

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
    let stream = stream_of(stored)?;
    let event = decode_event(stored)?;
    Ok(Envelope {
        seq: stored.seq,
        event_id: stored.event_id,
        stream,
        stream_version: stored.stream_version,
        recorded_at: stored.recorded_at,
        effective_at: stored.effective_at,
        actor: stored.actor.clone(),
        command_id: stored.command_id,
        correlation_id: stored.correlation_id,
        event,
    })
}

/// The actors' names seen so far, each kept once. A log has a handful of actors and millions
/// of events: an entry that shares its actor's name takes no memory of its own for it, and a
/// rebuild does not allocate a name for every event that it keeps.
#[derive(Debug, Default)]
pub struct Actors(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Actors {
    /// The shared copy of `name`.
    pub fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.get(name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = name.into();
        self.0.insert(Arc::clone(&name));
        name
    }
}

/// A stored (and already upcast) event as the read model keeps it, with its stream: the
/// [`Entry`] of its [`envelope`], made without the envelope, with its actor's name from `actors`.
pub fn entry(
    stored: &StoredEvent,
    actors: &mut Actors,
) -> Result<(StreamRef, Entry), DecodeFailure> {
    let stream = stream_of(stored)?;
    let event = decode_event(stored)?;
    Ok((
        stream,
        Entry {
            seq: stored.seq,
            stream_version: stored.stream_version,
            event_id: stored.event_id,
            recorded_at: stored.recorded_at,
            effective_at: stored.effective_at,
            actor: actors.intern(&stored.actor),
            event,
        },
    ))
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

fn decode_event(stored: &StoredEvent) -> Result<Event, DecodeFailure> {
    Event::decode(&stored.event_type, stored.data.get()).map_err(|e| DecodeFailure {
        seq: stored.seq,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn progress_note(seq: u64, actor: &str) -> StoredEvent {
        let action_id = Uuid::from_u128(0xA);
        StoredEvent {
            seq,
            event_id: Uuid::from_u128(u128::from(seq)),
            stream_id: action_id,
            stream_type: "action".to_owned(),
            stream_version: seq,
            recorded_at: Utc.with_ymd_and_hms(2018, 7, 12, 10, 30, 0).unwrap(),
            effective_at: Utc.with_ymd_and_hms(2018, 7, 11, 0, 0, 0).unwrap(),
            actor: actor.to_owned(),
            command_id: Uuid::from_u128(0xC),
            correlation_id: Uuid::from_u128(0xD),
            schema_version: CURRENT_SCHEMA_VERSION,
            event_type: "ProgressRecorded".to_owned(),
            data: RawValue::from_string(format!(
                r#"{{"action_id": "{action_id}", "note": "Caseloads down to 18", "rag": "amber"}}"#
            ))
            .unwrap(),
            prev_hash: "00".repeat(32),
            hash: "11".repeat(32),
        }
    }

    #[test]
    fn an_entry_is_the_entry_of_the_envelope_with_one_copy_of_each_actors_name() {
        let mut actors = Actors::default();
        let events = [
            progress_note(1, "Programme Director"),
            progress_note(2, "Head of Service"),
            progress_note(3, "Programme Director"),
        ];
        let entries: Vec<_> = events
            .iter()
            .map(|stored| entry(stored, &mut actors).unwrap())
            .collect();
        for (stored, (stream, entry)) in events.iter().zip(&entries) {
            let envelope = envelope(stored).unwrap();
            assert_eq!(*stream, envelope.stream);
            assert_eq!(*entry, Entry::from_envelope(envelope));
        }
        let actor = |i: usize| &entries[i].1.actor;
        assert!(Arc::ptr_eq(actor(0), actor(2)));
        assert!(!Arc::ptr_eq(actor(0), actor(1)));
    }

    #[test]
    fn an_entry_of_an_unknown_stream_type_is_refused_with_its_seq() {
        let mut stored = progress_note(9, "Programme Director");
        stored.stream_type = "board".to_owned();
        let failure = entry(&stored, &mut Actors::default()).unwrap_err();
        assert_eq!(failure.seq, 9);
        assert!(failure.reason.contains("board"), "{}", failure.reason);
    }
}

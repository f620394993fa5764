//! An in-memory event store: the deciders run end to end without any I/O.
//!
//! Tests, property checks and the demo's own consistency check use it; the real store is
//! `stocktake-log`. It follows the same steps as the gateway: fold the target stream and the
//! context streams, decide, stamp envelopes, append.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::aggregates::{decide, AggregateState, Facts};
use crate::commands::Command;
use crate::envelope::Envelope;
use crate::error::DomainError;
use crate::events::Event;
use crate::stream::{StreamRef, StreamType};
use crate::time::{effective_time, TimeInput};

/// Who gives a command, and when, on both clocks.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub actor: String,
    pub recorded_at: DateTime<Utc>,
    pub effective_at: Option<TimeInput>,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    streams: HashMap<Uuid, (StreamType, Vec<Event>)>,
    last_effective: HashMap<Uuid, DateTime<Utc>>,
    log: Vec<Envelope>,
}

impl MemoryStore {
    /// Every event, in the order it was recorded.
    pub fn envelopes(&self) -> &[Envelope] {
        &self.log
    }

    /// The folded state of a stream (the initial state when it has no events).
    pub fn state(&self, stream: StreamRef) -> AggregateState {
        match self.streams.get(&stream.id) {
            Some((stream_type, events)) if *stream_type == stream.stream_type => {
                AggregateState::fold(stream.stream_type, events)
            }
            _ => AggregateState::initial(stream.stream_type),
        }
    }

    /// Decides and records one command. `next_id` supplies ids: missing entity ids first,
    /// then one event id per event.
    pub fn execute(
        &mut self,
        mut command: Command,
        meta: &CommandMeta,
        next_id: &mut dyn FnMut() -> Uuid,
    ) -> Result<Vec<Envelope>, DomainError> {
        command.fill_missing_ids(next_id);
        let target = command
            .target()
            .ok_or_else(|| DomainError::rule("id", "the command names no stream"))?;
        if let Some((existing_type, _)) = self.streams.get(&target.id) {
            if *existing_type != target.stream_type {
                return Err(command.wrong_kind(target));
            }
        }
        let effective_at = effective_time(
            meta.effective_at,
            meta.recorded_at,
            self.last_effective.get(&target.id).copied(),
        )?;
        let state = self.state(target);
        let mut facts = Facts::default();
        for context in command.context() {
            facts.insert(self.state(context));
        }
        let events = decide(&command, &state, &facts)?;
        let command_id = next_id();
        if !events.is_empty() {
            self.last_effective.insert(target.id, effective_at);
        }
        let (_, stream) = self
            .streams
            .entry(target.id)
            .or_insert_with(|| (target.stream_type, Vec::new()));
        let mut recorded = Vec::with_capacity(events.len());
        for event in events {
            stream.push(event.clone());
            let envelope = Envelope {
                seq: self.log.len() as u64 + 1,
                event_id: next_id(),
                stream: target,
                stream_version: stream.len() as u64,
                recorded_at: meta.recorded_at,
                effective_at,
                actor: meta.actor.clone(),
                command_id,
                correlation_id: command_id,
                event,
            };
            self.log.push(envelope.clone());
            recorded.push(envelope);
        }
        Ok(recorded)
    }
}

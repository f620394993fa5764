//! Schema evolution on read: stored events keep the schema version they were
//! written with, and reads pass them through the registered [`Upcaster`]
//! until it says they are current.

use serde_json::value::RawValue;

use crate::{LogError, StoredEvent};

/// Turns an event of an old schema into a newer one.
///
/// Return `Ok(None)` when `(event_type, schema_version)` is already current,
/// `Ok(Some((type, version, data)))` for the next step. The log keeps
/// calling until `None`, so an upcaster may go one version at a time.
/// The stored bytes, `hash` and `prev_hash` are never changed: verification
/// and export always see the event as stored.
pub trait Upcaster: Send + Sync + std::fmt::Debug {
    /// One upcasting step, or `None` if the event is current.
    fn upcast(
        &self,
        event_type: &str,
        schema_version: u32,
        data: &RawValue,
    ) -> Result<Option<(String, u32, Box<RawValue>)>, String>;
}

/// More steps than any real schema history has; reaching it means the
/// upcaster loops.
const MAX_STEPS: u32 = 64;

/// Passes a stored event through `upcaster` until it is current, as every read of the log
/// does: for code that reads stored events from elsewhere (an export line, a fuzz input).
pub fn upcast_to_current(
    upcaster: &dyn Upcaster,
    mut event: StoredEvent,
) -> Result<StoredEvent, LogError> {
    for _ in 0..MAX_STEPS {
        let step = upcaster.upcast(&event.event_type, event.schema_version, &event.data);
        match step {
            Ok(None) => return Ok(event),
            Ok(Some((event_type, schema_version, data))) => {
                event.event_type = event_type;
                event.schema_version = schema_version;
                event.data = data;
            }
            Err(reason) => return Err(upcast_error(&event, reason)),
        }
    }
    let reason = format!("the upcaster did not reach a current schema within {MAX_STEPS} steps");
    Err(upcast_error(&event, reason))
}

fn upcast_error(event: &StoredEvent, reason: String) -> LogError {
    LogError::Upcast {
        seq: event.seq,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        reason,
    }
}

//! The command service: load, decide, append. The one path every command takes, whether it
//! comes over HTTP, from the demo loader or from a spreadsheet import.

use chrono::{DateTime, Utc};
use serde_json::Value;
use stocktake_domain::aggregates::{decide, AggregateState, Facts};
use stocktake_domain::{
    effective_time, Command, DomainError, EntityKind, Event, StreamRef, StreamType, TimeInput,
    CURRENT_SCHEMA_VERSION,
};
use stocktake_log::{
    AppendError, AppendOutcome, AppendRequest, ExpectedVersion, Log, LogError, NewEvent,
};
use stocktake_projections::{envelope, DecodeFailure};
use uuid::Uuid;

/// How many times a command without an expected version is decided again after losing a
/// race for its stream, before the conflict is reported.
const MAX_RETRIES: usize = 8;

/// One command as a client gave it, with everything the shell knows around it.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    pub command: Command,
    /// The token name: the actor of every event the command records.
    pub actor: String,
    /// When Stocktake records it (the wall clock, or the demo's simulated one).
    pub recorded_at: DateTime<Utc>,
    pub effective_at: Option<TimeInput>,
    /// The stream version the client based the command on (`If-Match`).
    pub expected_version: Option<u64>,
    /// Identifies the command across retries: derived from an `Idempotency-Key`, else fresh.
    pub command_id: Uuid,
    /// A digest of the request as the client sent it, so a reused key with another body is refused.
    pub request_digest: [u8; 32],
    pub correlation_id: Uuid,
}

/// Why a command was not recorded. Nothing is appended in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(
        "the {stream_type} is at version {current}, but the command expected version {expected}"
    )]
    Conflict {
        stream_type: StreamType,
        expected: u64,
        current: u64,
    },
    #[error("this idempotency key was already used for a different request")]
    IdempotencyMismatch,
    #[error("the event log is unavailable: {0}")]
    Unavailable(#[source] LogError),
    #[error("the event log holds an event this build cannot read: {0}")]
    Unreadable(#[from] DecodeFailure),
    #[error("the event log refused the append: {0}")]
    Refused(String),
}

impl From<LogError> for CommandError {
    fn from(e: LogError) -> Self {
        CommandError::Unavailable(e)
    }
}

/// What a recorded (or replayed) command produced.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub stream: StreamRef,
    pub outcome: AppendOutcome,
}

/// A digest of a request body that ignores key order and white space.
pub fn request_digest(actor: &str, body: &Value) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(actor.as_bytes());
    hasher.update(&[0]);
    hasher.update(canonical_json(body).as_bytes());
    *hasher.finalize().as_bytes()
}

fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// The command id of an idempotency key: the same key from the same actor is the same command.
pub fn command_id_for_key(actor: &str, key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x7374_6f63_6b74_616b_6500_6964_656d_706f);
    Uuid::new_v5(&NAMESPACE, format!("{actor}\0{key}").as_bytes())
}

/// A stream's decided state: its fold, version and the effective time of its latest event.
struct Loaded {
    state: AggregateState,
    version: u64,
    last_effective: Option<DateTime<Utc>>,
}

fn load(log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
    match log.stream_type(stream.id)? {
        Some(t) if t != stream.stream_type.as_str() => return Ok(None),
        _ => {}
    }
    let stored = log.read_stream(stream.id, 1)?;
    let mut state = AggregateState::initial(stream.stream_type);
    let mut last_effective = None;
    let mut version = 0;
    for event in &stored {
        let envelope = envelope(event)?;
        state = state.evolve(&envelope.event);
        last_effective = Some(envelope.effective_at);
        version = envelope.stream_version;
    }
    Ok(Some(Loaded {
        state,
        version,
        last_effective,
    }))
}

/// An id that belongs to another kind of stream names nothing of the kind the command wants.
fn wrong_kind(command: &Command, target: StreamRef) -> DomainError {
    let (field, kind) = match target.stream_type {
        StreamType::Plan => ("plan_id", EntityKind::Plan),
        StreamType::Action => ("action_id", EntityKind::Action),
        StreamType::Measure => ("measure_id", EntityKind::Measure),
        StreamType::Visit => ("visit_id", EntityKind::Visit),
    };
    if command.target_is_new() {
        DomainError::already_exists(field, kind, target.id)
    } else {
        DomainError::not_found(field, kind, target.id)
    }
}

fn new_events(
    request: &CommandRequest,
    effective_at: DateTime<Utc>,
    events: Vec<Event>,
) -> Vec<NewEvent> {
    events
        .into_iter()
        .map(|event| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.type_name().to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            recorded_at: request.recorded_at,
            effective_at,
            actor: request.actor.clone(),
            correlation_id: request.correlation_id,
            data: serde_json::value::RawValue::from_string(event.payload_json())
                .expect("an event payload is valid JSON"),
        })
        .collect()
}

/// Decides and records one command. The command's ids must be filled in already
/// ([`Command::fill_missing_ids`]), so that a retry decides the same thing.
pub async fn execute(log: &Log, request: &CommandRequest) -> Result<CommandOutcome, CommandError> {
    let target = request
        .command
        .target()
        .ok_or_else(|| DomainError::rule("id", "the command names no stream"))?;
    if let Some(outcome) = replayed(log, request)? {
        return Ok(CommandOutcome {
            stream: target,
            outcome,
        });
    }
    for _ in 0..MAX_RETRIES {
        let append = decide_append(log, request, target)?;
        match log.append(append).await {
            Ok(outcome) => {
                return Ok(CommandOutcome {
                    stream: target,
                    outcome,
                })
            }
            // Somebody else wrote to the stream between our read and our append. The client
            // did not pin a version, so decide again on the fresh state.
            Err(AppendError::Conflict { .. }) if request.expected_version.is_none() => continue,
            Err(e) => return Err(append_error(e, target)),
        }
    }
    Err(CommandError::Conflict {
        stream_type: target.stream_type,
        expected: request.expected_version.unwrap_or_default(),
        current: log.stream_version(target.id)?,
    })
}

/// [`execute`] for code without an async runtime (the demo and spreadsheet loaders).
pub fn execute_blocking(
    log: &Log,
    request: &CommandRequest,
) -> Result<CommandOutcome, CommandError> {
    let target = request
        .command
        .target()
        .ok_or_else(|| DomainError::rule("id", "the command names no stream"))?;
    if let Some(outcome) = replayed(log, request)? {
        return Ok(CommandOutcome {
            stream: target,
            outcome,
        });
    }
    let append = decide_append(log, request, target)?;
    log.append_blocking(append)
        .map(|outcome| CommandOutcome {
            stream: target,
            outcome,
        })
        .map_err(|e| append_error(e, target))
}

/// The first outcome of a command seen before, without deciding it again.
fn replayed(log: &Log, request: &CommandRequest) -> Result<Option<AppendOutcome>, CommandError> {
    log.command_for(request.command_id, &request.request_digest)
        .map_err(|e| append_error(e, request.command.target().expect("checked by the caller")))
}

fn decide_append(
    log: &Log,
    request: &CommandRequest,
    target: StreamRef,
) -> Result<AppendRequest, CommandError> {
    let command = &request.command;
    let loaded = load(log, target)?.ok_or_else(|| wrong_kind(command, target))?;
    if let Some(expected) = request.expected_version {
        if expected != loaded.version {
            return Err(CommandError::Conflict {
                stream_type: target.stream_type,
                expected,
                current: loaded.version,
            });
        }
    }
    let effective_at = effective_time(
        request.effective_at,
        request.recorded_at,
        loaded.last_effective,
    )?;
    let mut facts = Facts::default();
    for context in command.context() {
        if let Some(context) = load(log, context)? {
            facts.insert(context.state);
        }
    }
    let events = decide(command, &loaded.state, &facts)?;
    Ok(AppendRequest {
        stream: stocktake_log::StreamRef {
            stream_type: target.stream_type.as_str().to_owned(),
            stream_id: target.id,
        },
        expected_version: ExpectedVersion::Exactly(loaded.version),
        events: new_events(request, effective_at, events),
        command_id: request.command_id,
        request_digest: request.request_digest,
    })
}

fn append_error(error: AppendError, target: StreamRef) -> CommandError {
    match error {
        AppendError::Conflict {
            expected, current, ..
        } => CommandError::Conflict {
            stream_type: target.stream_type,
            expected,
            current,
        },
        AppendError::IdempotencyMismatch { .. } => CommandError::IdempotencyMismatch,
        AppendError::Invalid(reason) => CommandError::Refused(reason),
        AppendError::Storage(e) => CommandError::Unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_and_white_space() {
        let a = json!({"type": "record_progress", "note": "x", "action_id": "1"});
        let b: Value =
            serde_json::from_str(r#"{ "action_id":"1",  "type":"record_progress","note":"x" }"#)
                .unwrap();
        assert_eq!(
            request_digest("director", &a),
            request_digest("director", &b)
        );
    }

    #[test]
    fn the_digest_depends_on_the_body_and_the_actor() {
        let a = json!({"note": "x"});
        let b = json!({"note": "y"});
        assert_ne!(
            request_digest("director", &a),
            request_digest("director", &b)
        );
        assert_ne!(request_digest("director", &a), request_digest("editor", &a));
    }

    #[test]
    fn an_idempotency_key_is_scoped_to_its_actor() {
        assert_eq!(command_id_for_key("a", "k"), command_id_for_key("a", "k"));
        assert_ne!(command_id_for_key("a", "k"), command_id_for_key("b", "k"));
    }
}

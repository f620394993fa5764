//! The command service: load, decide, append. The one path every command takes, whether it
//! comes over HTTP, from the demo loader or from a spreadsheet import.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;
use stocktake_domain::aggregates::{decide, AggregateState, Facts};
use stocktake_domain::{
    effective_time, Command, DomainError, Event, StreamRef, StreamType, TimeInput,
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
    hash_canonical(&mut hasher, body);
    *hasher.finalize().as_bytes()
}

/// Feeds the hasher the body as compact JSON with every object's keys sorted, piece by piece.
/// These bytes are what stored digests were made of: they must never change.
fn hash_canonical(hasher: &mut blake3::Hasher, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                serde_json::to_writer(&mut *hasher, key).expect("hashing cannot fail");
                hasher.update(b":");
                hash_canonical(hasher, &map[key]);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                hash_canonical(hasher, item);
            }
            hasher.update(b"]");
        }
        other => serde_json::to_writer(&mut *hasher, other).expect("hashing cannot fail"),
    }
}

/// The command id of an idempotency key: the same key from the same actor is the same command.
pub fn command_id_for_key(actor: &str, key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x7374_6f63_6b74_616b_6500_6964_656d_706f);
    Uuid::new_v5(&NAMESPACE, format!("{actor}\0{key}").as_bytes())
}

/// A stream's decided state: its fold, version and the effective time of its latest event.
#[derive(Debug, Clone)]
struct Loaded {
    state: AggregateState,
    version: u64,
    last_effective: Option<DateTime<Utc>>,
}

impl Loaded {
    fn initial(stream_type: StreamType) -> Self {
        Loaded {
            state: AggregateState::initial(stream_type),
            version: 0,
            last_effective: None,
        }
    }

    /// Folds the stream's stored events after `self.version`.
    fn catch_up(mut self, log: &Log, stream: StreamRef) -> Result<Self, CommandError> {
        for event in &log.read_stream(stream.id, self.version + 1)? {
            let envelope = envelope(event)?;
            self.state.evolve_in_place(&envelope.event);
            self.last_effective = Some(envelope.effective_at);
            self.version = envelope.stream_version;
        }
        Ok(self)
    }
}

fn load(log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
    match log.stream_type(stream.id)? {
        Some(t) if t != stream.stream_type.as_str() => return Ok(None),
        _ => {}
    }
    Loaded::initial(stream.stream_type)
        .catch_up(log, stream)
        .map(Some)
}

/// The most streams [`StreamStates`] remembers before it starts again.
const MAX_REMEMBERED_STREAMS: usize = 100_000;

/// The decided states of the streams commands last touched, so that a command folds only the
/// events its stream gained since, instead of reading and folding the whole stream from the log.
///
/// A remembered state is a shortcut, never a source of truth: it names the version it was
/// folded to, is caught up to the log's durable version before it is used, and the append
/// still names that exact version, so a stale state costs a conflict and a retry, never a
/// lost update. A command takes its stream's state out while it decides (commands on one
/// stream take turns anyway), and puts it back folded with the events it recorded.
#[derive(Debug, Default)]
pub struct StreamStates {
    states: Mutex<HashMap<Uuid, Loaded>>,
}

impl StreamStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Loaded>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream's state at the log's durable version; `None` if the id names another kind
    /// of stream.
    fn take(&self, log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
        let remembered = self.lock().remove(&stream.id);
        match remembered {
            // A stream's type never changes once it has events, and a remembered state has
            // some; a version past the log's means the state is not of this log.
            Some(loaded)
                if loaded.state.stream_type() == stream.stream_type
                    && loaded.version <= log.stream_version(stream.id)? =>
            {
                loaded.catch_up(log, stream).map(Some)
            }
            _ => load(log, stream),
        }
    }

    /// A copy of a context stream's state, for the facts a rule reads.
    fn peek(&self, log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
        let version = log.stream_version(stream.id)?;
        let remembered = self.lock().get(&stream.id).cloned();
        match remembered {
            Some(loaded)
                if loaded.state.stream_type() == stream.stream_type
                    && loaded.version == version =>
            {
                Ok(Some(loaded))
            }
            _ => load(log, stream),
        }
    }

    fn put(&self, id: Uuid, loaded: Loaded) {
        if loaded.version == 0 {
            return;
        }
        let mut states = self.lock();
        if states.len() >= MAX_REMEMBERED_STREAMS {
            states.clear();
        }
        match states.get(&id) {
            Some(newer) if newer.version > loaded.version => {}
            _ => {
                states.insert(id, loaded);
            }
        }
    }
}

/// Where a command's stream states come from: the log alone, or the log through
/// [`StreamStates`].
#[derive(Clone, Copy)]
enum States<'a> {
    Log,
    Remembered(&'a StreamStates),
}

impl States<'_> {
    fn take(self, log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
        match self {
            States::Log => load(log, stream),
            States::Remembered(states) => states.take(log, stream),
        }
    }

    fn peek(self, log: &Log, stream: StreamRef) -> Result<Option<Loaded>, CommandError> {
        match self {
            States::Log => load(log, stream),
            States::Remembered(states) => states.peek(log, stream),
        }
    }

    fn put(self, id: Uuid, loaded: Loaded) {
        if let States::Remembered(states) = self {
            states.put(id, loaded);
        }
    }
}

fn new_events(
    request: &CommandRequest,
    effective_at: DateTime<Utc>,
    events: &[Event],
) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.type_name().to_owned(),
            schema_version: CURRENT_SCHEMA_VERSION,
            recorded_at: request.recorded_at,
            effective_at,
            actor: request.actor.clone(),
            correlation_id: request.correlation_id,
            data: event.payload_raw(),
        })
        .collect()
}

/// Decides and records one command. The command's ids must be filled in already
/// ([`Command::fill_missing_ids`]), so that a retry decides the same thing.
pub async fn execute(log: &Log, request: &CommandRequest) -> Result<CommandOutcome, CommandError> {
    execute_with(log, States::Log, request).await
}

/// [`execute`], starting from the states `states` remembers and leaving them up to date.
pub async fn execute_remembering(
    log: &Log,
    states: &StreamStates,
    request: &CommandRequest,
) -> Result<CommandOutcome, CommandError> {
    execute_with(log, States::Remembered(states), request).await
}

async fn execute_with(
    log: &Log,
    states: States<'_>,
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
    for _ in 0..MAX_RETRIES {
        let Decided { append, recorded } = decide_append(log, states, request, target)?;
        match log.append(append).await {
            Ok(outcome) => {
                if let Some(loaded) = after_append(recorded, &outcome) {
                    states.put(target.id, loaded);
                }
                return Ok(CommandOutcome {
                    stream: target,
                    outcome,
                });
            }
            // Somebody else wrote to the stream between our read and our append. The client
            // did not pin a version, so decide again on the fresh state.
            Err(AppendError::Conflict { .. }) if request.expected_version.is_none() => {
                states.put(target.id, recorded.loaded);
                continue;
            }
            Err(e) => {
                states.put(target.id, recorded.loaded);
                return Err(append_error(e, target));
            }
        }
    }
    Err(CommandError::Conflict {
        stream_type: target.stream_type,
        expected: request.expected_version.unwrap_or_default(),
        current: log.stream_version(target.id)?,
    })
}

/// The stream's state after a successful append: folded with the recorded events as read back
/// from the very payloads that were stored, as a later load would read them. `None` when the
/// log replayed an earlier command instead (nothing of ours was recorded): the next command
/// loads the stream afresh.
fn after_append(decided: Recorded, outcome: &AppendOutcome) -> Option<Loaded> {
    let Recorded {
        mut loaded,
        events,
        effective_at,
    } = decided;
    let events = events?;
    if outcome.duplicate || outcome.stream_version != loaded.version + events.len() as u64 {
        return None;
    }
    for event in &events {
        loaded.state.evolve_in_place(event);
    }
    loaded.version = outcome.stream_version;
    loaded.last_effective = Some(effective_at);
    Some(loaded)
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
    let append = decide_append(log, States::Log, request, target)?.append;
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

/// What a command decided: the append, and what its stream becomes once it is recorded.
struct Decided {
    append: AppendRequest,
    recorded: Recorded,
}

struct Recorded {
    /// The state the command was decided on.
    loaded: Loaded,
    /// The new events as their stored payloads read back; `None` if one does not read.
    events: Option<Vec<Event>>,
    effective_at: DateTime<Utc>,
}

fn decide_append(
    log: &Log,
    states: States<'_>,
    request: &CommandRequest,
    target: StreamRef,
) -> Result<Decided, CommandError> {
    let command = &request.command;
    let loaded = states
        .take(log, target)?
        .ok_or_else(|| command.wrong_kind(target))?;
    match decide_on(log, states, request, target, &loaded) {
        Ok((events, effective_at)) => {
            let stored = events
                .iter()
                .map(|e| Event::decode(&e.event_type, e.data.get()).ok())
                .collect();
            Ok(Decided {
                append: AppendRequest {
                    stream: stocktake_log::StreamRef {
                        stream_type: target.stream_type.as_str().to_owned(),
                        stream_id: target.id,
                    },
                    expected_version: ExpectedVersion::Exactly(loaded.version),
                    events,
                    command_id: request.command_id,
                    request_digest: request.request_digest,
                },
                recorded: Recorded {
                    loaded,
                    events: stored,
                    effective_at,
                },
            })
        }
        Err(e) => {
            // A refusal changes nothing: the state is as good as it was.
            states.put(target.id, loaded);
            Err(e)
        }
    }
}

fn decide_on(
    log: &Log,
    states: States<'_>,
    request: &CommandRequest,
    target: StreamRef,
    loaded: &Loaded,
) -> Result<(Vec<NewEvent>, DateTime<Utc>), CommandError> {
    let command = &request.command;
    if let Some(expected) = request.expected_version {
        if expected != loaded.version {
            if loaded.version == 0 && !command.target_is_new() {
                // Nothing to be at any version: what the command names does not exist.
                return Err(CommandError::Domain(command.wrong_kind(target)));
            }
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
        if let Some(context) = states.peek(log, context)? {
            facts.insert(context.state);
        }
    }
    let events = decide(command, &loaded.state, &facts)?;
    Ok((new_events(request, effective_at, &events), effective_at))
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

    /// The canonical text digests were first made of, kept to pin the streamed form to it.
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

    #[test]
    fn the_digest_is_the_one_stored_digests_were_made_with() {
        let body = json!({
            "type": "record_progress", "note": "Nine of \"twelve\"\n in post \u{e9}\u{1f600}",
            "rag": null, "n": [1, 2.5, -3e300, {"z": true, "a": false}], "k\u{0}ey": {}, "e": []
        });
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"director\0");
        hasher.update(canonical_json(&body).as_bytes());
        assert_eq!(
            request_digest("director", &body),
            *hasher.finalize().as_bytes()
        );
    }

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

    fn request(body: Value) -> CommandRequest {
        let mut fields = body.as_object().expect("an object").clone();
        let name = fields.remove("type").expect("a type");
        let command =
            Command::deserialize_named(name.as_str().expect("a name"), Value::Object(fields))
                .expect("valid")
                .expect("a command");
        CommandRequest {
            request_digest: request_digest("director", &body),
            command_id: Uuid::now_v7(),
            command,
            actor: "director".to_owned(),
            recorded_at: Utc::now(),
            effective_at: None,
            expected_version: None,
            correlation_id: Uuid::now_v7(),
        }
    }

    #[tokio::test]
    async fn a_remembered_state_catches_up_with_commands_recorded_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), stocktake_log::LogOptions::default()).unwrap();
        let states = StreamStates::default();
        let (plan, area, action) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for body in [
            json!({"type": "create_plan", "plan_id": plan, "title": "Plan", "organisation": "Council"}),
            json!({"type": "add_priority_area", "plan_id": plan, "area_id": area, "number": 1,
                "title": "Area", "lead": "Head of Service"}),
            json!({"type": "add_action", "plan_id": plan, "area_id": area, "action_id": action,
                "title": "Action", "owner": "Service manager", "due_on": "2030-01-01"}),
            json!({"type": "change_action_status", "action_id": action, "status": "in_progress",
                "rag": "amber"}),
        ] {
            execute_remembering(&log, &states, &request(body))
                .await
                .unwrap();
        }
        // Given the director blocked the action by a path that does not remember states (the
        // demo and spreadsheet loaders), the remembered state is one version behind.
        let block = json!({"type": "change_action_status", "action_id": action,
            "status": "blocked", "rag": "red"});
        execute(&log, &request(block.clone())).await.unwrap();

        // When the same change comes over HTTP, it is decided on the log's state: refused.
        let again = execute_remembering(&log, &states, &request(block)).await;
        assert!(
            matches!(again, Err(CommandError::Domain(_))),
            "decided on a stale state: {again:?}"
        );
        // And unblocking it is decided at the current version, and remembered at the next.
        let unblock = json!({"type": "change_action_status", "action_id": action,
            "status": "in_progress", "rag": "green"});
        let recorded = execute_remembering(&log, &states, &request(unblock))
            .await
            .unwrap();
        assert_eq!(recorded.outcome.stream_version, 4);
        let remembered = states.lock().get(&action).map(|l| l.version);
        assert_eq!(remembered, Some(4));
        // A pinned version is checked against the caught-up state, not the remembered one.
        let mut pinned = request(json!({"type": "record_progress", "action_id": action,
            "note": "Pinned to an old version"}));
        pinned.expected_version = Some(3);
        let conflict = execute_remembering(&log, &states, &pinned).await;
        assert!(
            matches!(
                conflict,
                Err(CommandError::Conflict {
                    expected: 3,
                    current: 4,
                    ..
                })
            ),
            "{conflict:?}"
        );
    }
}

//! `POST /api/v1/commands`: JSON in, decided events durable in the log, their positions out.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use stocktake_domain::{Command, StreamType, TimeInput};
use uuid::Uuid;

use super::auth::Caller;
use crate::problem::{ApiError, FieldError};
use crate::service::{command_id_for_key, request_digest, CommandRequest};
use crate::state::AppState;

/// The most a request body may hold.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

#[derive(Debug, Serialize)]
pub struct EventRef {
    pub seq: u64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[derive(Debug, Serialize)]
pub struct CommandResponse {
    pub stream_id: Uuid,
    pub stream_type: StreamType,
    pub version: u64,
    pub events: Vec<EventRef>,
    pub head_hash: String,
    /// What the command created, by its id's field: `{"finding_id": "..."}`. Within a stream
    /// (an area, a finding, a piece of evidence) `stream_id` is the parent's, so a client
    /// that left the id to the server learns it here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<BTreeMap<&'static str, Uuid>>,
}

pub async fn post_command(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    // The headers are moved out of the request, not copied as a `HeaderMap` extractor would.
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    json_content_type(&headers)?;
    let body = Bytes::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                ApiError::PayloadTooLarge { limit: BODY_LIMIT }
            }
            // A body cut short of its Content-Length, or badly chunked.
            other => ApiError::bad_field("body", other.body_text()),
        })?;
    let original: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_field("body", format!("is not valid JSON: {e}")))?;
    let digest = request_digest(caller.name(), &original);
    let Value::Object(mut fields) = original else {
        return Err(ApiError::bad_field(
            "body",
            "must be a JSON object with a `type`",
        ));
    };
    let effective_at = take_effective_at(&mut fields)?;
    let expected_version = expected_version(&headers, &mut fields)?;
    let idempotency_key = idempotency_key(&headers)?;
    let mut command = parse_command(fields)?;
    caller.may_give(&command)?;
    command.fill_missing_ids(&mut Uuid::now_v7);
    let created = command.created_id();

    let actor = caller.name().to_owned();
    let mut request = CommandRequest {
        request_digest: digest,
        command_id: idempotency_key
            .map_or_else(Uuid::now_v7, |key| command_id_for_key(&actor, key)),
        command,
        actor,
        recorded_at: state.now(),
        effective_at,
        expected_version,
        correlation_id: request_id(&headers).unwrap_or_else(Uuid::now_v7),
    };
    let recorded = match state.execute(&mut request).await {
        Ok(recorded) => recorded,
        Err(e) => {
            state.metrics().commands_refused.inc();
            return Err(e.into());
        }
    };
    let outcome = recorded.outcome;
    let created = match created {
        // A replay's id is the one recorded the first time, not the one just made.
        Some((field, _)) if outcome.duplicate => {
            recorded_id(&state, &outcome.events, field).await?
        }
        other => other,
    };
    if !outcome.duplicate {
        state
            .metrics()
            .events_appended
            .inc_by(outcome.events.len() as u64);
    }
    let body = CommandResponse {
        stream_id: outcome.stream_id,
        stream_type: recorded.stream.stream_type,
        version: outcome.stream_version,
        events: outcome
            .events
            .iter()
            .map(|e| EventRef {
                seq: e.seq,
                event_id: e.event_id,
                event_type: e.event_type.clone(),
            })
            .collect(),
        head_hash: outcome.head_hash.clone(),
        created: created.map(|(field, id)| BTreeMap::from([(field, id)])),
    };
    let mut response = json_response(&body)?;
    response.headers_mut().insert(
        "etag",
        HeaderValue::from_str(&format!("\"{}\"", outcome.stream_version)).expect("digits"),
    );
    if outcome.duplicate {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The id `field` holds in the first event a command recorded, read back from the log.
async fn recorded_id(
    state: &AppState,
    events: &[stocktake_log::AppendedEvent],
    field: &'static str,
) -> Result<Option<(&'static str, Uuid)>, ApiError> {
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let (log, seq) = (state.log().clone(), first.seq);
    let stored = tokio::task::spawn_blocking(move || log.read_all_as_stored(seq - 1, 1))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(stored
        .first()
        .and_then(|e| serde_json::from_str::<Value>(e.data.get()).ok())
        .and_then(|data| data.get(field)?.as_str()?.parse().ok())
        .map(|id| (field, id)))
}

/// `Json`'s response starts from a 128-byte buffer and regrows it while writing an answer of
/// 250 bytes or more; this one is written into a buffer of the size it needs.
fn json_response(body: &CommandResponse) -> Result<Response, ApiError> {
    let mut bytes = Vec::with_capacity(320 + 160 * body.events.len());
    serde_json::to_writer(&mut bytes, body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}

/// A command is JSON: a body sent as anything else (a form, plain text, nothing said) is
/// refused before it is read, as the OpenAPI document's `requestBody` promises.
fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            raw.chars().take(100).collect(),
        ))
    }
}

fn take_effective_at(fields: &mut Map<String, Value>) -> Result<Option<TimeInput>, ApiError> {
    match fields.remove("effective_at") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => {
            raw.parse()
                .map(Some)
                .map_err(|e: stocktake_domain::time::TimeInputError| {
                    ApiError::bad_field("effective_at", e.to_string())
                })
        }
        Some(_) => Err(ApiError::bad_field(
            "effective_at",
            "must be a string: a date (YYYY-MM-DD) or an RFC 3339 time",
        )),
    }
}

/// `If-Match: "3"` (or `expected_version: 3` in the body): the version the client last saw.
fn expected_version(
    headers: &HeaderMap,
    fields: &mut Map<String, Value>,
) -> Result<Option<u64>, ApiError> {
    let from_body = match fields.remove("expected_version") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            ApiError::bad_field("expected_version", "must be a whole number, 0 or more")
        })?),
    };
    let from_header = match headers.get("if-match") {
        None => None,
        Some(raw) => {
            let text = raw.to_str().unwrap_or_default().trim();
            let unquoted = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
            Some(unquoted.parse::<u64>().map_err(|_| {
                ApiError::bad_field("If-Match", "must be a stream version in quotes, e.g. \"3\"")
            })?)
        }
    };
    match (from_header, from_body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::bad_field(
            "expected_version",
            format!("disagrees with If-Match ({b} against {h})"),
        )),
        (h, b) => Ok(h.or(b)),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().unwrap_or_default();
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(Some(key))
    } else {
        Err(ApiError::bad_field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ))
    }
}

/// The request's id, when it is a UUID: the correlation id of the events its command records.
fn request_id(headers: &HeaderMap) -> Option<Uuid> {
    crate::observe::request_id(headers).parse().ok()
}

/// Reads the command, naming the field and the rule on failure.
fn parse_command(mut fields: Map<String, Value>) -> Result<Command, ApiError> {
    let name = match fields.remove("type") {
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(ApiError::bad_field(
                "type",
                "must be a string naming a command",
            ))
        }
        None => {
            return Err(ApiError::bad_field(
                "type",
                "is required: the command's name",
            ))
        }
    };
    let unknown = || {
        ApiError::bad_field(
            "type",
            format!(
                "`{}` is not a command; see docs/EVENTS.md for the {} commands",
                name.chars().take(60).collect::<String>(),
                Command::TYPES.len()
            ),
        )
    };
    let mut track = serde_path_to_error::Track::new();
    let fields = serde_path_to_error::Deserializer::new(Value::Object(fields), &mut track);
    match Command::deserialize_named(&name, fields) {
        Ok(Some(command)) => Ok(command),
        Ok(None) => Err(unknown()),
        Err(e) => {
            let message = e.to_string();
            let path = track.path().to_string();
            let field = field_named_in(&message).unwrap_or(if path == "." {
                "body".to_owned()
            } else {
                path
            });
            Err(ApiError::BadRequest {
                detail: format!("{field}: {message}"),
                errors: vec![FieldError { field, message }],
            })
        }
    }
}

/// serde names the field itself in "unknown field `x`" and "missing field `x`".
fn field_named_in(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next().map(str::to_owned)
}

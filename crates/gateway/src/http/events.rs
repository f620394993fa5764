//! The audit log itself: pages of envelopes as stored (those recorded by `known_at`, or
//! effective by `as_of`, when asked), a live Server-Sent Events feed, and verification of the
//! hash chain.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Serialize;
use stocktake_log::{StoredEvent, VerifyReport};

use super::auth::Caller;
use super::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;
use stocktake_projections::At;

#[derive(Debug, Serialize)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    /// Pass as `after` for the next page; equal to `after` when there is nothing newer.
    pub next_after: u64,
}

/// The most events one page looks through for those `as_of` and `known_at` let in; the page
/// then ends early, and `next_after` says where the next one starts looking.
const PAGE_SCAN_LIMIT: usize = 10_000;

pub async fn list_events(
    State(state): State<AppState>,
    _: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let after = params.number("after", 0, 0, u64::MAX)?;
    let limit = params.number("limit", 100, 1, 1000)? as usize;
    let at = params.at()?;
    let log = state.log().clone();
    let page = tokio::task::spawn_blocking(move || {
        let mut page = EventPage {
            events: Vec::new(),
            next_after: after,
        };
        let mut scanned = 0;
        while page.events.len() < limit && scanned < PAGE_SCAN_LIMIT {
            let batch = log.read_all_as_stored(page.next_after, limit)?;
            if batch.is_empty() {
                break;
            }
            scanned += batch.len();
            for event in batch {
                if page.events.len() == limit {
                    break;
                }
                page.next_after = event.seq;
                if let_in(&at, &event) {
                    page.events.push(event);
                }
            }
        }
        Ok::<_, stocktake_log::LogError>(page)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(page).into_response())
}

/// Whether an event is among those `as_of` (effective by then) and `known_at` (recorded by then)
/// ask about.
fn let_in(at: &At, event: &StoredEvent) -> bool {
    at.as_of.is_none_or(|t| event.effective_at <= t)
        && at.known_at.is_none_or(|t| event.recorded_at <= t)
}

/// New envelopes as they become durable. `Last-Event-ID` (or `after`) resumes after a seq.
pub async fn stream_events(
    State(state): State<AppState>,
    _: Caller,
    headers: HeaderMap,
    params: Params,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        Some(raw) => raw
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_field(
                    "Last-Event-ID",
                    "must be the seq of the last event received",
                )
            })?,
        None => params.number("after", state.log().head().last_seq, 0, u64::MAX)?,
    };
    let at = params.at()?;
    let subscription = state.log().subscribe_as_stored(after);
    let closed = async move { state.closed().await };
    // The stream outlives its request's handling, so its one log line names the request itself.
    let request_id: Arc<str> = crate::observe::request_id(&headers).into();
    let events = stream::unfold(subscription, move |mut subscription| {
        let request_id = Arc::clone(&request_id);
        async move {
            loop {
                match subscription.next().await {
                    Ok(stored) if !let_in(&at, &stored) => continue,
                    Ok(stored) => {
                        let data = serde_json::to_string(&stored).expect("stored events serialize");
                        let event = Event::default()
                            .id(stored.seq.to_string())
                            .event("event")
                            .data(data);
                        return Some((Ok(event), subscription));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %request_id, "event stream ended");
                        return None;
                    }
                }
            }
        }
    })
    .take_until(closed);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub events: u64,
    pub head_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The whole chain checked; with `known_at`, the answer is about the log as it stood then: the
/// events recorded by that time, and the head hash after the last of them.
pub async fn verify(
    State(state): State<AppState>,
    _: Caller,
    params: Params,
) -> Result<Response, ApiError> {
    let known_at = params.time("known_at")?;
    let log = state.log().clone();
    let verification = tokio::task::spawn_blocking(move || {
        let report: VerifyReport = log.verify(&mut |_| {})?;
        let whole = Verification {
            ok: report.ok,
            events: report.events,
            head_hash: report.head_hash,
            first_bad_seq: report.first_bad_seq,
            problem: report.problem,
        };
        match known_at {
            None => Ok(whole),
            Some(t) => as_it_stood(&log, whole, t),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(verification).into_response())
}

/// The verification of the log's first events, those recorded by `t`, from that of the whole.
fn as_it_stood(
    log: &stocktake_log::Log,
    whole: Verification,
    t: chrono::DateTime<chrono::Utc>,
) -> Result<Verification, stocktake_log::LogError> {
    let mut last: Option<StoredEvent> = None;
    let mut after = 0;
    'pages: loop {
        let page = log.read_all_as_stored(after, 1024)?;
        let Some(end) = page.last().map(|e| e.seq) else {
            break;
        };
        for event in page {
            if event.recorded_at > t {
                break 'pages;
            }
            last = Some(event);
        }
        after = end;
    }
    let events = last.as_ref().map_or(0, |e| e.seq);
    let bad_within = whole.first_bad_seq.filter(|seq| *seq <= events);
    Ok(Verification {
        ok: whole.ok || (whole.first_bad_seq.is_some() && bad_within.is_none()),
        events,
        head_hash: last.map_or_else(|| "0".repeat(64), |e| e.hash),
        first_bad_seq: bad_within,
        problem: bad_within.and(whole.problem),
    })
}

//! Stocktake's HTTP gateway: the only crate that knows HTTP.
//!
//! [`app`] builds the axum [`Router`]: `POST /api/v1/commands` turns a JSON command into
//! decided events that are durable in the log before the response is sent; the `GET` routes
//! serve the read models, each answerable `as_of` an effective time and `known_at` a recorded
//! time; `/api/v1/events` serves the log itself. Every `/api/v1` route needs a bearer token
//! ([`tokens`]); `/healthz` and `/metrics` do not. Errors are `application/problem+json`
//! ([`problem`]). The command path itself ([`service`]) knows nothing of HTTP, so the demo
//! and spreadsheet loaders use it too. The interface is documented in `docs/API.md` and
//! served as OpenAPI 3 at `/api/v1/openapi.json`.

pub mod http;
pub mod locks;
pub mod metrics;
mod observe;
pub mod openapi;
pub mod overview_cache;
pub mod problem;
pub mod serve;
pub mod service;
pub mod state;
pub mod tokens;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use problem::ApiError;
pub use state::AppState;

use http::commands::BODY_LIMIT;
use http::{commands, events, queries};

/// How long any request but the event stream may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The smallest answer worth compressing. A command's answer (about 280 bytes) took 20 µs to
/// gzip, most of it setting up the deflate state, to save about 90 bytes, where the server
/// spends 40 to 50 µs of CPU on all the rest of a command.
pub const MIN_COMPRESSED_SIZE: u16 = 1024;

/// The tokio runtime to serve [`app`] on: multi-threaded, with I/O and timers, and with each
/// worker looking at the runtime's shared queue before every task rather than every few dozen.
/// A command waiting for its events to be durable is woken by the log's sync thread, from
/// outside the runtime, onto that shared queue; looked at first, it is answered before the
/// worker reads more new requests, so fewer commands are in flight at once and their state
/// stays in the CPU's caches. Against tokio's default, in twelve alternating pairs of the load
/// bench's command phases (2026-11-30), p99 at 256 clients was lower in nine (median 16.7 ms
/// against 17.6, worst 19.0 against 21.2) and at 64 clients in eight (worst 4.8 ms against 5.5).
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().global_queue_interval(1);
    builder
}

/// The gateway's router, ready to serve or to drive with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/commands", post(commands::post_command))
        .route("/api/v1/plans", get(queries::list_plans))
        .route("/api/v1/plans/{plan_id}", get(queries::get_plan))
        .route(
            "/api/v1/plans/{plan_id}/changes",
            get(queries::plan_changes),
        )
        .route("/api/v1/plans/{plan_id}/drift", get(queries::plan_drift))
        .route(
            "/api/v1/plans/{plan_id}/activity",
            get(queries::plan_activity),
        )
        .route(
            "/api/v1/plans/{plan_id}/measures",
            get(queries::plan_measures),
        )
        .route("/api/v1/plans/{plan_id}/visits", get(queries::plan_visits))
        .route("/api/v1/actions/{action_id}", get(queries::get_action))
        .route(
            "/api/v1/actions/{action_id}/history",
            get(queries::action_history),
        )
        .route("/api/v1/measures/{measure_id}", get(queries::get_measure))
        .route("/api/v1/visits/{visit_id}", get(queries::get_visit))
        .route("/api/v1/events", get(events::list_events))
        .route("/api/v1/verify", get(events::verify))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .layer(
            ServiceBuilder::new()
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(CompressionLayer::new().compress_when(
                    DefaultPredicate::new().and(SizeAbove::new(MIN_COMPRESSED_SIZE)),
                )),
        );
    // The live stream never ends, so it stays out of the timeout and the compression. Neither
    // would cut it or hold its events back as configured (the timeout covers the wait for a
    // response's head, and compression skips `text/event-stream`), but an endless response
    // should not depend on those details.
    let stream = Router::new().route("/api/v1/events/stream", get(events::stream_events));
    api.merge(stream)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                // A span per request, and tower-http's line per request and response, at
                // debug: at tens of thousands of requests a second the span alone cost more
                // than routing them, and the lines would flood the journal. /metrics carries
                // the counts and latencies per route, and a request that fails on the server's
                // side is logged with its id, method and path by `observe`.
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request| {
                        let request_id = observe::request_id(request.headers());
                        tracing::debug_span!("request", method = %request.method(), uri = %request.uri().path(), %request_id)
                    }),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(observe::ObserveLayer::new(state.clone()))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/v1/openapi.json")
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

async fn healthz(State(state): State<AppState>) -> Response {
    let head = state.log().head();
    let applied = state.projector().last_seq();
    Json(json!({
        "status": "ok",
        "log": { "last_seq": head.last_seq, "head_hash": head.head_hash },
        "projections": { "last_seq": applied, "lag": head.last_seq.saturating_sub(applied) },
    }))
    .into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let head = state.log().head();
    let metrics = state.metrics();
    metrics.log_events.set(head.last_seq);
    metrics
        .projection_lag_events
        .set(head.last_seq.saturating_sub(state.projector().last_seq()));
    let log = state.log().clone();
    if let Ok(Ok(size)) = tokio::task::spawn_blocking(move || log.size_on_disk()).await {
        metrics.log_size_bytes.set(size);
    }
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

//! The layer every request passes just outside its handler: it turns the plain-text errors of
//! the layers below (body limit, timeout, extractor rejections) into problem bodies, counts
//! the request and its latency for `/metrics`, and logs a request that failed on the server's
//! side (a 5xx, or a 408 when it took too long) with its request id, method and path.
//!
//! That log line is why no span is made per request at the default level: the fmt subscriber
//! formats a span's fields into a string when the span is made, which on the command path cost
//! more than routing the request (4.5 % of the gateway's CPU at 64 clients), to name the few
//! requests that fail.
//!
//! One hand-written service rather than two `middleware::from_fn`s: each of those clones and
//! boxes the rest of the stack and boxes its own future on every request, and on the command
//! path that bookkeeping cost more than the metrics themselves.

use std::borrow::Cow;
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::http::commands::BODY_LIMIT;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::openapi::ROUTES;
use crate::problem::{ApiError, ServerFailure};
use crate::state::AppState;

/// The header that carries a request's id: set by `SetRequestIdLayer` when a client sends none,
/// and sent back with the response.
const REQUEST_ID: &str = "x-request-id";

/// A request's id as text, empty if it has none that is text.
pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> Self {
        ObserveLayer { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = route_label(request.extensions().get::<MatchedPath>());
        // Kept for the line logged if the request fails; the path shares the request's buffer.
        let request_id = request.headers().get(REQUEST_ID).cloned();
        let uri = request.uri().clone();
        // The service that was polled ready serves this request; its clone waits for the next.
        let ready = self.inner.clone();
        let future = std::mem::replace(&mut self.inner, ready).call(request);
        let state = self.state.clone();
        Box::pin(async move {
            let Ok(response) = future.await;
            let response = problem_for_bare_errors(response.into_response(), &method, &route).await;
            let failure = response.extensions().get::<ServerFailure>();
            if failure.is_some() || response.status().is_server_error() {
                let request_id = request_id.as_ref().and_then(|v| v.to_str().ok());
                tracing::error!(
                    request_id = %request_id.unwrap_or_default(),
                    method = %method,
                    path = %uri.path(),
                    status = response.status().as_u16(),
                    reason = %failure.map_or("none given", |f| f.0.as_str()),
                    "request failed"
                );
            }
            let metrics = state.metrics();
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    method,
                    route: route.clone(),
                    status: response.status().as_u16(),
                })
                .inc();
            metrics
                .latency
                .get_or_create(&RouteLabels { route })
                .observe(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}

fn method_label(method: &Method) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    // Any other method is a label of its own only once: a client inventing
    // methods must not grow `/metrics` without bound.
    let known = KNOWN.iter().find(|known| **known == method.as_str());
    Cow::Borrowed(known.copied().unwrap_or("other"))
}

/// The route's pattern, as the router matched it; every pattern is one of [`ROUTES`].
fn route_label(matched: Option<&MatchedPath>) -> Cow<'static, str> {
    let Some(matched) = matched else {
        return Cow::Borrowed("unmatched");
    };
    let path = matched.as_str();
    ROUTES.iter().find(|(_, route)| *route == path).map_or_else(
        || Cow::Owned(path.to_owned()),
        |(_, route)| Cow::Borrowed(*route),
    )
}

/// Layers below the handlers (body limit, timeout) answer in plain text; clients get every
/// error in one shape.
async fn problem_for_bare_errors(response: Response, method: &str, route: &str) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return response;
    }
    match response.status() {
        // An extractor's rejection, e.g. a path segment that is not UTF-8.
        StatusCode::BAD_REQUEST => {
            let text = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            ApiError::bad_field("path", text).into_response()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge { limit: BODY_LIMIT }.into_response()
        }
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout {
            detail: timeout_detail(method == "POST" && route == "/api/v1/commands"),
        }
        .into_response(),
        _ => response,
    }
}

/// A command cut off by the timeout may already be on its way into the log, which goes on
/// without the request: its sender learns its outcome by sending it again with the same
/// `Idempotency-Key`, which records it at most once.
fn timeout_detail(is_command: bool) -> String {
    let limit = crate::REQUEST_TIMEOUT.as_secs();
    if is_command {
        format!(
            "the command took longer than {limit} s and may still have been recorded: send it \
             again with the same Idempotency-Key to learn its outcome without recording it twice"
        )
    } else {
        format!("the request took longer than {limit} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn problem_of(response: Response, route: &str) -> (StatusCode, serde_json::Value) {
        let response = problem_for_bare_errors(response, "POST", route).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("a body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn a_timeout_is_a_408_problem_that_tells_a_command_how_to_learn_its_outcome() {
        let timed_out = || StatusCode::REQUEST_TIMEOUT.into_response();
        let (status, problem) = problem_of(timed_out(), "/api/v1/commands").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(problem["status"], 408);
        assert_eq!(
            problem["type"],
            "https://stocktake.invalid/problems/timeout"
        );
        let detail = problem["detail"].as_str().expect("a detail");
        assert!(detail.contains("may still have been recorded"), "{detail}");
        assert!(detail.contains("Idempotency-Key"), "{detail}");

        let (status, problem) = problem_of(timed_out(), "/api/v1/plans/{plan_id}").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(problem["detail"], "the request took longer than 30 s");
    }
}

//! Prometheus metrics: requests, latencies, appends, log size and projection lag.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label values are borrowed from static text when they can be (every route, every common
/// method), so that counting a request allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: Cow<'static, str>,
    pub route: Cow<'static, str>,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Cow<'static, str>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub events_appended: Counter,
    pub commands_refused: Counter,
    pub log_events: Gauge<u64, AtomicU64>,
    pub log_size_bytes: Gauge<u64, AtomicU64>,
    pub projection_lag_events: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stocktake");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let events_appended = Counter::default();
        let commands_refused = Counter::default();
        let log_events = Gauge::<u64, AtomicU64>::default();
        let log_size_bytes = Gauge::<u64, AtomicU64>::default();
        let projection_lag_events = Gauge::<u64, AtomicU64>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "events_appended",
            "Events appended by commands",
            events_appended.clone(),
        );
        registry.register(
            "commands_refused",
            "Commands refused",
            commands_refused.clone(),
        );
        registry.register("log_events", "Events in the log", log_events.clone());
        registry.register(
            "log_size_bytes",
            "Bytes the log takes on disk",
            log_size_bytes.clone(),
        );
        registry.register(
            "projection_lag_events",
            "Events in the log not yet folded into the read models",
            projection_lag_events.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            events_appended,
            commands_refused,
            log_events,
            log_size_bytes,
            projection_lag_events,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

//! W3C trace context across process boundaries. Every hop of an order's path (HTTP, gRPC
//! metadata, Kafka headers, Redis job fields, rows that wait for a dispatcher) carries a
//! `traceparent`; the span that takes the work up continues that trace, and what it hands on
//! carries the span's own context. Without an OTLP exporter there is no span context: the
//! intake and the NOD worker then pass on the `traceparent` they received
//! (`current_traceparent_or`), and the other hops send none.

use opentelemetry::propagation::{Extractor, Injector};
use std::collections::HashMap;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const TRACEPARENT: &str = "traceparent";

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn parent_from(extractor: &dyn Extractor) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(extractor))
}

/// Makes `span` continue the trace of `traceparent` (a malformed value is ignored).
pub fn follow(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    // Fails only when the span is disabled or already started a trace of its own.
    let _ = span.set_parent(parent_from(&carrier));
}

/// Makes `span` continue the trace named in request `headers`.
pub fn follow_headers(span: &Span, headers: &http::HeaderMap) {
    let _ = span.set_parent(parent_from(&Headers(headers)));
}

/// The `traceparent` that makes the receiver a child of `span`; `None` when no trace is
/// recorded.
pub fn traceparent_of(span: &Span) -> Option<String> {
    let mut carrier = HashMap::new();
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove(TRACEPARENT)
}

/// The current span's `traceparent`, or `fallback` (what was received) when none is recorded.
pub fn current_traceparent_or(fallback: Option<&str>) -> Option<String> {
    traceparent_of(&Span::current()).or_else(|| fallback.map(str::to_owned))
}

/// Writes the current span's trace context into outgoing request `headers`.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let cx = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeadersMut(headers))
    });
}

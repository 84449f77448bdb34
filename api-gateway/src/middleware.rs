//! The gateway's own layers: correlation id, trace context, request metrics and error
//! rendering at the edge, and the `ET-Client-Name` rule on `/v1`.

use crate::error::{render, ApiError, ErrorCode, PendingError};
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub const CORRELATION_ID: &str = "x-correlation-id";
pub const CLIENT_NAME: &str = "et-client-name";

/// The request's correlation id: the caller's `X-Correlation-Id`, or one minted here.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// The caller's `ET-Client-Name`.
#[derive(Debug, Clone)]
pub struct ClientName(pub String);

fn acceptable_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?.trim();
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_owned())
}

/// Outermost layer: assigns the correlation id, runs the request in a span carrying it,
/// echoes it on the response, and turns every error (from a handler, a layer or the
/// framework itself) into an `ApiError` body.
pub async fn edge(mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let path = req.uri().path().to_owned();
    // The route template, never the raw path, so the metric labels stay few.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let correlation_id = req
        .headers()
        .get(CORRELATION_ID)
        .and_then(acceptable_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut()
        .insert(CorrelationId(correlation_id.clone()));
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        method = %req.method(),
        route = %route,
        path = %path,
        correlation_id = %correlation_id,
    );
    // A caller's `traceparent` makes this request part of its trace.
    td_telemetry::propagation::follow_headers(&span, req.headers());
    let mut response = next.run(req).instrument(span).await;

    let status = response.status();
    if let Some(PendingError(err)) = response.extensions_mut().remove::<PendingError>() {
        response = render(&err, &path, &correlation_id);
    } else if (status.is_client_error() || status.is_server_error())
        && response.headers().get(header::CONTENT_TYPE)
            != Some(&HeaderValue::from_static("application/json"))
    {
        let code = ErrorCode::for_http_status(status);
        let message = match code {
            ErrorCode::RouteNotFound => "No endpoint has this path. See /openapi.json.".to_owned(),
            ErrorCode::MethodNotAllowed => {
                "This endpoint does not take this method. See /openapi.json.".to_owned()
            }
            ErrorCode::PayloadTooLarge => {
                "The request body is larger than this service accepts.".to_owned()
            }
            ErrorCode::RequestTimeout => {
                "The request took longer than the service allows. Retry later.".to_owned()
            }
            _ => format!("The request failed with status {}.", status.as_u16()),
        };
        response = render(&ApiError::new(code, message), &path, &correlation_id);
    }
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!("td_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("td_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Every `/v1` call must say who the caller is (`<company>-<application>`).
pub async fn require_client_name(mut req: Request, next: Next) -> Response {
    let name = req
        .headers()
        .get(CLIENT_NAME)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200);
    match name {
        Some(name) => {
            let name = ClientName(name.to_owned());
            req.extensions_mut().insert(name);
            next.run(req).await
        }
        None => ApiError::new(
            ErrorCode::MissingClientName,
            "Every /v1 call needs the header ET-Client-Name: <company>-<application>.",
        )
        .into_response(),
    }
}

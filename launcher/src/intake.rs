//! `POST /embedded/order-events`: submit an order event to the embedded default from the
//! shell. The event takes the same path as one from Kafka (parse, validate, record, or the
//! dead-letter log with the reason).
//!
//! Only `application/json` is taken, and only from this process's own address: a request
//! whose `Host` or `Origin` names another (a web page the user visits, or a DNS name
//! re-bound to 127.0.0.1) is refused, so no page in a browser can post orders here.

use api_gateway::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};
use order_listener::{Incoming, Intake, IntakeOutcome};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use td_store::record::RecordOutcome;

#[derive(Clone)]
struct IntakeState {
    intake: Arc<Intake>,
    /// Where the gateway listens; set once it is bound.
    own: Arc<OnceLock<SocketAddr>>,
}

/// The intake route; `own` is the gateway's address, set once it is bound (until then
/// every request is refused).
pub fn routes(intake: Arc<Intake>, own: Arc<OnceLock<SocketAddr>>) -> Router {
    Router::new()
        .route("/embedded/order-events", post(submit))
        .with_state(IntakeState { intake, own })
}

/// Whether `authority` (`host[:port]`) names this process: a loopback name or the address
/// it is bound to, on its port. Bound to every interface, any IP address on its port is
/// its own too; a DNS name other than `localhost` never is.
fn own_authority(authority: &str, own: SocketAddr) -> bool {
    let Ok(parsed) = authority.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    if parsed.port_u16().unwrap_or(80) != own.port() {
        return false;
    }
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == own.ip() || own.ip().is_unspecified(),
        Err(_) => false,
    }
}

fn check_request(headers: &HeaderMap, own: Option<SocketAddr>) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the order event as `Content-Type: application/json`.",
        ));
    }
    let foreign = || {
        ApiError::new(
            ErrorCode::ForeignOrigin,
            "The embedded intake takes order events from this machine's own address only.",
        )
    };
    let own = own.ok_or_else(foreign)?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(foreign)?;
    if !own_authority(host, own) {
        return Err(foreign());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| foreign())?;
        let authority = origin.strip_prefix("http://").ok_or_else(foreign)?;
        if !own_authority(authority, own) {
            return Err(foreign());
        }
    }
    Ok(())
}

async fn submit(
    State(state): State<IntakeState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    check_request(&headers, state.own.get().copied())?;
    let outcome = state
        .intake
        .process(Incoming {
            key: None,
            payload: Some(&body),
            traceparent: None,
            source: "embedded-http".to_owned(),
        })
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        IntakeOutcome::Recorded(RecordOutcome::Applied {
            order_version,
            created,
            kept,
            cancelled,
        }) => Ok(Json(json!({
            "result": "RECORDED",
            "orderVersion": order_version,
            "createdGroups": created,
            "keptGroups": kept,
            "cancelledTicketDistributions": cancelled,
        }))),
        IntakeOutcome::Recorded(RecordOutcome::AlreadyRecorded { latest_version }) => Ok(Json(
            json!({ "result": "ALREADY_RECORDED", "latestVersion": latest_version }),
        )),
        IntakeOutcome::Recorded(RecordOutcome::Draft) => {
            Ok(Json(json!({ "result": "DRAFT_IGNORED" })))
        }
        IntakeOutcome::DeadLettered { reason } => Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("The order event was not accepted and went to the dead-letter log: {reason}"),
        )),
    }
}

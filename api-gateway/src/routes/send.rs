//! `POST /v1/pdf-tickets/{orderId}/send` records an e-mail send of PDF tickets (the mailer
//! delivers it) and `GET /v1/pdf-tickets/sends/{sendId}` tells where delivery stands.
//! The address is parsed as an RFC 5322 addr-spec; an `Idempotency-Key` makes a retried
//! call return the first answer; per-order and per-address limits stop inbox flooding.

use crate::caller::Caller;
use crate::dto::PdfSend;
use crate::error::{ApiError, ApiErrorBody, ErrorCode};
use crate::middleware::CorrelationId;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use td_domain::ids::{OrderId, TicketDistributionId};
use td_store::mail::{self, CreateOutcome, IdempotencyKey, NewSend, SendLimits};
use td_store::query;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most tickets one send may name.
const MAX_TICKETS: usize = 100;
/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 200;
/// Longest address accepted (RFC 5321's path limit).
const MAX_ADDRESS_LEN: usize = 254;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendBody {
    /// One bare address (`name@example.com`): no display name, no list.
    pub email_address: String,
    /// The tickets to send (1 to 100), each of this order and valid.
    pub ticket_distribution_ids: Vec<Uuid>,
    /// nob, nno or eng; default the `Accept-Language` header, else nob.
    pub language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendAccepted {
    pub id: Uuid,
    /// QUEUED when recorded; `GET /v1/pdf-tickets/sends/{id}` follows it.
    pub status: String,
}

/// An address as the send limits compare it, so that one mailbox written two ways counts
/// once: the domain in its ASCII (punycode) form and lower case, and the local part in
/// lower case. RFC 5321 lets a mail system tell `Kari` from `kari`, but
/// hardly any does; for a limit, counting them as one is the safe side. (Quoted local parts
/// never get here: [`parse_address`] takes bare addresses only.)
pub fn address_key(address: &lettre::Address) -> String {
    let domain = address.domain();
    let domain = if domain.starts_with('[') {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_lowercase())
    };
    format!("{}@{domain}", address.user().to_lowercase())
}

/// Parses an address as a bare RFC 5322 addr-spec.
pub fn parse_address(raw: &str) -> Result<lettre::Address, String> {
    if raw.is_empty() {
        return Err("the address is empty".into());
    }
    if raw.len() > MAX_ADDRESS_LEN {
        return Err(format!(
            "the address is longer than {MAX_ADDRESS_LEN} characters"
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
    {
        return Err(
            "give one bare address such as name@example.com (no name, no list, no spaces)".into(),
        );
    }
    raw.parse::<lettre::Address>()
        .map_err(|e| format!("`{raw}` is not an e-mail address: {e}"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters."),
            )
        })?;
    Ok(Some(key.to_owned()))
}

/// E-mail PDF tickets of the order.
#[utoipa::path(
    post,
    path = "/v1/pdf-tickets/{orderId}/send",
    tag = "pdf-tickets",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retried call with the same key returns the first answer and sends no second mail"),
        ("Accept-Language" = Option<String>, Header, description = "nob, nno or eng (default nob)"),
        ("orderId" = String, Path),
    ),
    request_body = SendBody,
    responses(
        (status = 202, body = SendAccepted, description = "recorded; the mailer delivers it"),
        (status = 400, body = ApiErrorBody, description = "bad address (INVALID_EMAIL_ADDRESS), a ticket of another order (TICKET_NOT_IN_ORDER), malformed body"),
        (status = 404, body = ApiErrorBody, description = "unknown order (ORDER_NOT_FOUND)"),
        (status = 409, body = ApiErrorBody, description = "a ticket is not valid (TICKET_NOT_VALID), or the Idempotency-Key was used for another request (IDEMPOTENCY_KEY_REUSED)"),
        (status = 429, body = ApiErrorBody, description = "too many sends for this order or address; see Retry-After"),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Extension(correlation): Extension<CorrelationId>,
    super::OrderIdPath(order_id): super::OrderIdPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SendAccepted>), ApiError> {
    let body: SendBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("The body is not valid: {e}."),
        )
    })?;
    let address = parse_address(&body.email_address).map_err(|m| {
        ApiError::new(
            ErrorCode::InvalidEmailAddress,
            format!("emailAddress: {m}."),
        )
    })?;
    let unique: BTreeSet<Uuid> = body.ticket_distribution_ids.iter().copied().collect();
    if unique.is_empty()
        || unique.len() > MAX_TICKETS
        || unique.len() != body.ticket_distribution_ids.len()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!("ticketDistributionIds must name 1 to {MAX_TICKETS} different tickets."),
        ));
    }
    let language = super::pdf::requested_language(body.language.as_deref(), &headers)?;
    let key = idempotency_key(&headers)?;
    let scope = caller.scope();
    let order = query::order(&state.db, scope, &OrderId(order_id.clone()))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::OrderNotFound,
                format!("No order has id {order_id}."),
            )
        })?;

    // The same request under the same key: the first answer, nothing sent again.
    let fingerprint = serde_json::json!({
        "orderId": order_id,
        "emailAddress": address.to_string(),
        "ticketDistributionIds": unique,
        "language": language.as_str(),
    })
    .to_string();
    let idempotency = key.map(|key| IdempotencyKey {
        scope: format!(
            "pdf-send:{}:{}",
            order.organisation_id,
            headers
                .get("et-client-name")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        ),
        key,
        request_hash: fingerprint,
    });
    if let Some(k) = &idempotency {
        if let Some(outcome) = mail::replay(&state.db, k).await? {
            return answer(outcome);
        }
    }

    // Every ticket belongs to the order and is valid now.
    let now = Utc::now();
    for id in &unique {
        let row = query::distribution_status(&state.db, scope, TicketDistributionId(*id))
            .await?
            .filter(|r| r.distribution.order_id == order.order_id)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::TicketNotInOrder,
                    format!("Ticket {id} is not a ticket of order {order_id}."),
                )
            })?;
        let v = row.validity(now).map_err(ApiError::internal)?;
        if let Some(reason) = v.reason {
            return Err(ApiError::new(
                ErrorCode::TicketNotValid,
                format!(
                    "Ticket {id} is not valid ({}); only valid tickets are sent.",
                    reason.as_str()
                ),
            ));
        }
    }

    let new = NewSend {
        id: Uuid::new_v4(),
        order_id: order_id.clone(),
        organisation_id: order.organisation_id,
        email_address: address.to_string(),
        address_key: address_key(&address),
        language: language.as_str().to_owned(),
        ticket_distribution_ids: unique.into_iter().collect(),
        correlation_id: Some(correlation.0.clone()),
        traceparent: td_telemetry::propagation::current_traceparent_or(None),
    };
    let limits = SendLimits {
        per_order: state.mail_limits.per_order_per_hour,
        per_address: state.mail_limits.per_address_per_hour,
        window: Duration::hours(1),
    };
    let outcome = mail::create_send(&state.db, new, idempotency, Some(&limits), now).await?;
    if let CreateOutcome::Created(s) = &outcome {
        tracing::info!(order_id = %s.order_id, send_id = %s.id, correlation_id = %correlation.0, "PDF e-mail send recorded");
    }
    answer(outcome)
}

fn answer(outcome: CreateOutcome) -> Result<(StatusCode, Json<SendAccepted>), ApiError> {
    match outcome {
        // The first answer was QUEUED; a retry gets exactly that answer.
        CreateOutcome::Created(s) | CreateOutcome::Replayed(s) => Ok((
            StatusCode::ACCEPTED,
            Json(SendAccepted {
                id: s.id,
                status: mail::QUEUED.to_owned(),
            }),
        )),
        CreateOutcome::KeyReused => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was used for a different request. Use a new key for a new request.",
        )),
        CreateOutcome::Limited { free_at } => {
            let wait = (free_at - Utc::now()).num_seconds().max(0) as u64 + 1;
            Err(ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "Too many e-mails for this order or address in the last hour. Try again in {wait} s."
                ),
            )
            .retry_after(wait))
        }
    }
}

/// Where an e-mail send stands.
#[utoipa::path(
    get,
    path = "/v1/pdf-tickets/sends/{sendId}",
    tag = "pdf-tickets",
    params(
        ("ET-Client-Name" = String, Header, description = "`<company>-<application>`"),
        ("sendId" = String, Path),
    ),
    responses(
        (status = 200, body = PdfSend),
        (status = 400, body = ApiErrorBody, description = "the id is not a UUID"),
        (status = 404, body = ApiErrorBody, description = "no such send (SEND_NOT_FOUND)"),
    )
)]
pub async fn send_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PdfSend>, ApiError> {
    let uuid = Uuid::parse_str(&id).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("`{id}` is not a send id (a UUID)."),
        )
    })?;
    let send = mail::send(&state.db, caller.scope(), uuid)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SendNotFound, format!("No send has id {uuid}.")))?;
    Ok(Json(PdfSend::from_model(&send)))
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn only_bare_addresses_pass() {
        assert!(parse_address("kari.nordmann@example.com").is_ok());
        assert!(parse_address("kari+tickets@sub.example.no").is_ok());
        for bad in [
            "",
            "kari",
            "\"Kari\" <kari@example.com>",
            "Kari <kari@example.com>",
            "a@example.com, b@example.com",
            "a@example.com\r\nBcc: b@example.com",
            "a@example.com\nb@example.com",
            "a b@example.com",
            "a@example.com;b@example.com",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?} must be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(parse_address(&long).is_err());
    }
}

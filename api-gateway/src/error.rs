//! The one table of error codes: each kind of failure has an HTTP status, a stable `code`
//! string that clients can match on, and a short title. Every error body is an `ApiError`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MissingClientName,
    InvalidParameter,
    UnknownParameter,
    UnknownOperator,
    MissingFilter,
    InvalidPaging,
    InvalidBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    RouteNotFound,
    MethodNotAllowed,
    TicketDistributionNotFound,
    OrderNotFound,
    GroupNotFound,
    OrderNotConfirmed,
    GenerationTimeout,
    PdfTicketNotFound,
    NoValidTickets,
    InvalidEmailAddress,
    TicketNotInOrder,
    TicketNotValid,
    IdempotencyKeyReused,
    SendNotFound,
    RequestTimeout,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 28] = [
        Self::MissingClientName,
        Self::InvalidParameter,
        Self::UnknownParameter,
        Self::UnknownOperator,
        Self::MissingFilter,
        Self::InvalidPaging,
        Self::InvalidBody,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::TicketDistributionNotFound,
        Self::OrderNotFound,
        Self::GroupNotFound,
        Self::OrderNotConfirmed,
        Self::GenerationTimeout,
        Self::PdfTicketNotFound,
        Self::NoValidTickets,
        Self::InvalidEmailAddress,
        Self::TicketNotInOrder,
        Self::TicketNotValid,
        Self::IdempotencyKeyReused,
        Self::SendNotFound,
        Self::RequestTimeout,
        Self::TooManyRequests,
        Self::Unauthenticated,
        Self::Unavailable,
        Self::Internal,
    ];

    /// (HTTP status, stable code, title).
    pub fn describe(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::MissingClientName => (
                S::BAD_REQUEST,
                "MISSING_CLIENT_NAME",
                "ET-Client-Name header missing",
            ),
            Self::InvalidParameter => (S::BAD_REQUEST, "INVALID_PARAMETER", "Invalid parameter"),
            Self::UnknownParameter => (S::BAD_REQUEST, "UNKNOWN_PARAMETER", "Unknown parameter"),
            Self::UnknownOperator => (
                S::BAD_REQUEST,
                "UNKNOWN_OPERATOR",
                "Unknown search operator",
            ),
            Self::MissingFilter => (
                S::BAD_REQUEST,
                "MISSING_FILTER",
                "At least one filter is required",
            ),
            Self::InvalidPaging => (S::BAD_REQUEST, "INVALID_PAGING", "Invalid paging"),
            Self::InvalidBody => (S::BAD_REQUEST, "INVALID_BODY", "Invalid request body"),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body too large",
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
            ),
            Self::RouteNotFound => (S::NOT_FOUND, "ROUTE_NOT_FOUND", "No such endpoint"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
            ),
            Self::TicketDistributionNotFound => (
                S::NOT_FOUND,
                "TICKET_DISTRIBUTION_NOT_FOUND",
                "Ticket distribution not found",
            ),
            Self::OrderNotFound => (S::NOT_FOUND, "ORDER_NOT_FOUND", "Order not found"),
            Self::GroupNotFound => (
                S::NOT_FOUND,
                "GROUP_NOT_FOUND",
                "Ticket distribution group not found",
            ),
            Self::OrderNotConfirmed => {
                (S::CONFLICT, "ORDER_NOT_CONFIRMED", "Order is not confirmed")
            }
            Self::GenerationTimeout => (
                S::GATEWAY_TIMEOUT,
                "GENERATION_TIMEOUT",
                "Timed out waiting for generation",
            ),
            Self::PdfTicketNotFound => {
                (S::NOT_FOUND, "PDF_TICKET_NOT_FOUND", "PDF ticket not found")
            }
            Self::NoValidTickets => (S::CONFLICT, "NO_VALID_TICKETS", "No valid ticket to print"),
            Self::InvalidEmailAddress => (
                S::BAD_REQUEST,
                "INVALID_EMAIL_ADDRESS",
                "Invalid e-mail address",
            ),
            Self::TicketNotInOrder => (
                S::BAD_REQUEST,
                "TICKET_NOT_IN_ORDER",
                "Ticket is not part of the order",
            ),
            Self::TicketNotValid => (S::CONFLICT, "TICKET_NOT_VALID", "Ticket is not valid"),
            Self::IdempotencyKeyReused => (
                S::CONFLICT,
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency-Key used for another request",
            ),
            Self::SendNotFound => (S::NOT_FOUND, "SEND_NOT_FOUND", "Send not found"),
            Self::RequestTimeout => (
                S::SERVICE_UNAVAILABLE,
                "REQUEST_TIMEOUT",
                "The request took too long",
            ),
            Self::TooManyRequests => (
                S::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Too many requests",
            ),
            Self::Unauthenticated => (S::UNAUTHORIZED, "UNAUTHENTICATED", "Not authenticated"),
            Self::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "Service unavailable",
            ),
            Self::Internal => (S::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error"),
        }
    }

    /// The code for a status produced outside a handler (a layer or the framework).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => Self::RequestTimeout,
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            s if s.is_client_error() => Self::InvalidParameter,
            _ => Self::Internal,
        }
    }
}

/// The error body of every failed call.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// HTTP status code.
    #[schema(example = 409)]
    pub status: u16,
    /// HTTP reason phrase.
    #[schema(example = "Conflict")]
    pub error: String,
    #[schema(example = "Order is not confirmed")]
    pub title: String,
    /// What went wrong and what to do.
    pub message: String,
    pub path: String,
    pub timestamp: DateTime<Utc>,
    pub correlation_id: String,
    /// Stable machine-readable code.
    #[schema(example = "ORDER_NOT_CONFIRMED")]
    pub code: String,
}

/// An error a handler returns; the error layer fills in path and correlation id.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// For 429: when to try again, in seconds (`Retry-After`); 1 when unset.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Sets `Retry-After` (at least 1 second).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    /// The answer for a failed call to a worker: the stable code the worker attached when
    /// there is one, else what the gRPC status says (`service` names the worker).
    pub fn upstream(status: &tonic::Status, service: &str) -> Self {
        if let Some(code) = td_proto::code_of(status)
            .and_then(|c| ErrorCode::ALL.into_iter().find(|e| e.describe().1 == c))
        {
            return Self::new(code, status.message().to_owned());
        }
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::Cancelled => Self::new(
                ErrorCode::Unavailable,
                format!("The {service} service is not reachable right now. Retry shortly."),
            ),
            tonic::Code::DeadlineExceeded => Self::new(
                ErrorCode::Unavailable,
                format!("The {service} service did not answer in time. Retry shortly."),
            ),
            tonic::Code::InvalidArgument => {
                Self::new(ErrorCode::InvalidParameter, status.message().to_owned())
            }
            _ => Self::internal(format!("{service}: {status}")),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        // The cause is logged once here; the client gets no internal detail.
        tracing::error!(error = %err, "request failed");
        Self::new(
            ErrorCode::Internal,
            "The service failed to answer. Retry later; if it persists, contact the operator with the correlation id.",
        )
    }
}

impl From<td_store::StoreError> for ApiError {
    fn from(err: td_store::StoreError) -> Self {
        Self::internal(err)
    }
}

/// Marks a response whose body still needs the request's path and correlation id.
#[derive(Debug, Clone)]
pub struct PendingError(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.code.describe();
        let mut response = status.into_response();
        response.extensions_mut().insert(PendingError(self));
        response
    }
}

/// Renders the final body; called by the error layer, which knows path and correlation id.
pub fn render(err: &ApiError, path: &str, correlation_id: &str) -> Response {
    let (status, code, title) = err.code.describe();
    let body = ApiErrorBody {
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        title: title.to_owned(),
        message: err.message.clone(),
        path: path.to_owned(),
        timestamp: Utc::now(),
        correlation_id: correlation_id.to_owned(),
        code: code.to_owned(),
    };
    let mut response = (status, Json(body)).into_response();
    if err.code == ErrorCode::TooManyRequests {
        response.headers_mut().insert(
            "retry-after",
            HeaderValue::from(err.retry_after_secs.unwrap_or(1)),
        );
    }
    if err.code == ErrorCode::Unauthenticated {
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_client_errors_are_4xx() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let (status, name, _) = code.describe();
            assert!(seen.insert(name), "duplicate code {name}");
            let input_error = matches!(
                code,
                ErrorCode::MissingClientName
                    | ErrorCode::InvalidParameter
                    | ErrorCode::UnknownParameter
                    | ErrorCode::UnknownOperator
                    | ErrorCode::MissingFilter
                    | ErrorCode::InvalidPaging
                    | ErrorCode::InvalidBody
                    | ErrorCode::InvalidEmailAddress
                    | ErrorCode::TicketNotInOrder
            );
            if input_error {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
            }
        }
    }
}

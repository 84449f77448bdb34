//! Every error body is an `ApiError`, built from the one table of error codes
//! (`td_proto::ErrorCode`: HTTP status, stable `code` string, title). A failed call to a
//! worker is mapped by [`ApiError::upstream`] and nothing else.

pub use td_proto::ErrorCode;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

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
    /// For 429 and 503: when to try again, in seconds (`Retry-After`); 1 when unset.
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
    /// this table knows it, else what the gRPC status says (`service` names the worker).
    /// Unavailability and internal failures get the gateway's own words whatever the worker
    /// said, so no internal detail reaches the client.
    pub fn upstream(status: &tonic::Status, service: &str) -> Self {
        let unavailable = || {
            Self::new(
                ErrorCode::Unavailable,
                format!("The {service} service is not reachable right now. Retry shortly."),
            )
        };
        match ErrorCode::of(status) {
            Some(ErrorCode::Unavailable) => return unavailable(),
            Some(ErrorCode::Internal) | None => {}
            Some(code) => return Self::new(code, status.message().to_owned()),
        }
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::Cancelled => unavailable(),
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
    /// The database out of reach or its pool exhausted is a 503 with `Retry-After`, not a
    /// failure of the service.
    fn from(err: td_store::StoreError) -> Self {
        if err.is_unreachable() {
            tracing::warn!(error = %err, "database unavailable for a request");
            return Self::new(
                ErrorCode::Unavailable,
                "The service is busy or its database is not reachable right now. Retry after the time in Retry-After.",
            )
            .retry_after(1);
        }
        if err.is_statement_timeout() {
            tracing::warn!(error = %err, "a request's query ran past the statement timeout");
            return Self::new(
                ErrorCode::Unavailable,
                "The search took longer than this service allows. Narrow it with more filters, or retry later.",
            )
            .retry_after(1);
        }
        Self::internal(err)
    }
}

/// Marks a response whose body still needs the request's path and correlation id.
#[derive(Debug, Clone)]
pub struct PendingError(pub ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.http_status().into_response();
        response.extensions_mut().insert(PendingError(self));
        response
    }
}

/// Renders the final body; called by the error layer, which knows path and correlation id.
pub fn render(err: &ApiError, path: &str, correlation_id: &str) -> Response {
    let status = err.code.http_status();
    let body = ApiErrorBody {
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        title: err.code.title().to_owned(),
        message: err.message.clone(),
        path: path.to_owned(),
        timestamp: Utc::now(),
        correlation_id: correlation_id.to_owned(),
        code: err.code.as_str().to_owned(),
    };
    let mut response = (status, Json(body)).into_response();
    if matches!(
        err.code,
        ErrorCode::TooManyRequests | ErrorCode::Unavailable
    ) {
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
    use axum::http::StatusCode;

    #[test]
    fn input_errors_are_400() {
        for code in [
            ErrorCode::MissingClientName,
            ErrorCode::InvalidParameter,
            ErrorCode::UnknownParameter,
            ErrorCode::UnknownOperator,
            ErrorCode::MissingFilter,
            ErrorCode::InvalidPaging,
            ErrorCode::InvalidBody,
            ErrorCode::InvalidEmailAddress,
            ErrorCode::TicketNotInOrder,
        ] {
            assert_eq!(code.http_status(), StatusCode::BAD_REQUEST, "{code}");
        }
    }

    /// What a worker answers with reaches the client as the same code and HTTP status,
    /// except unavailability and internal failures, which keep the gateway's own words.
    #[test]
    fn every_worker_code_reaches_the_client_as_its_code_and_status() {
        for &code in ErrorCode::ALL {
            let err = ApiError::upstream(&code.status("the worker's words"), "PDF");
            assert_eq!(err.code, code, "{code}");
            assert_eq!(err.code.http_status(), code.http_status(), "{code}");
            let body = render(&err, "/p", "c");
            assert_eq!(body.status(), code.http_status(), "{code}");
            let expected = !matches!(code, ErrorCode::Unavailable | ErrorCode::Internal);
            assert_eq!(err.message == "the worker's words", expected, "{code}");
        }
    }

    #[test]
    fn an_unknown_or_absent_code_maps_to_a_generic_code() {
        let mut typo = tonic::Status::failed_precondition("order X is DRAFT, not CONFIRMED");
        typo.metadata_mut().insert(
            td_proto::CODE_KEY,
            tonic::metadata::MetadataValue::from_static("ORDER_NOT_CONFIMRED"),
        );
        let err = ApiError::upstream(&typo, "PDF");
        assert_eq!(err.code, ErrorCode::Internal);
        assert!(!err.message.contains("DRAFT"), "{}", err.message);

        for (status, code) in [
            (tonic::Status::not_found("x"), ErrorCode::Internal),
            (tonic::Status::unavailable("x"), ErrorCode::Unavailable),
            (tonic::Status::cancelled("x"), ErrorCode::Unavailable),
            (
                tonic::Status::deadline_exceeded("x"),
                ErrorCode::Unavailable,
            ),
            (
                tonic::Status::invalid_argument("x"),
                ErrorCode::InvalidParameter,
            ),
            (tonic::Status::internal("x"), ErrorCode::Internal),
        ] {
            assert_eq!(ApiError::upstream(&status, "PDF").code, code, "{status:?}");
        }
    }
}

//! The one table of error codes, for gRPC and HTTP alike: each kind of failure has a stable
//! `code` string (the REST `ApiError.code` that clients match on), a title, the gRPC code a
//! worker answers with and the HTTP status the gateway answers with. A worker builds its
//! refusals from this table (`ErrorCode::OrderNotFound.status(..)`), so a misspelt code does
//! not compile, and the gateway reads the code back from the `td-code` metadata.

use http::StatusCode;
use tonic::metadata::MetadataValue;
use tonic::Code;

/// gRPC metadata key carrying the stable error code (the gateway's `ApiError.code`).
pub const CODE_KEY: &str = "td-code";

macro_rules! error_codes {
    ($($variant:ident => $http:ident, $grpc:ident, $code:literal, $title:literal;)+) => {
        /// A kind of failure; see the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)+];

            /// The stable machine-readable string, e.g. `ORDER_NOT_CONFIRMED`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// A short human title for the REST error body.
            pub fn title(self) -> &'static str {
                match self {
                    $(Self::$variant => $title,)+
                }
            }

            /// The HTTP status the gateway answers with.
            pub fn http_status(self) -> StatusCode {
                match self {
                    $(Self::$variant => StatusCode::$http,)+
                }
            }

            /// The gRPC code a worker answers with.
            pub fn grpc_code(self) -> Code {
                match self {
                    $(Self::$variant => Code::$grpc,)+
                }
            }
        }
    };
}

error_codes! {
    MissingClientName => BAD_REQUEST, InvalidArgument, "MISSING_CLIENT_NAME", "ET-Client-Name header missing";
    InvalidParameter => BAD_REQUEST, InvalidArgument, "INVALID_PARAMETER", "Invalid parameter";
    UnknownParameter => BAD_REQUEST, InvalidArgument, "UNKNOWN_PARAMETER", "Unknown parameter";
    UnknownOperator => BAD_REQUEST, InvalidArgument, "UNKNOWN_OPERATOR", "Unknown search operator";
    MissingFilter => BAD_REQUEST, InvalidArgument, "MISSING_FILTER", "At least one filter is required";
    InvalidPaging => BAD_REQUEST, InvalidArgument, "INVALID_PAGING", "Invalid paging";
    InvalidBody => BAD_REQUEST, InvalidArgument, "INVALID_BODY", "Invalid request body";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, ResourceExhausted, "PAYLOAD_TOO_LARGE", "Request body too large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, InvalidArgument, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type";
    RouteNotFound => NOT_FOUND, Unimplemented, "ROUTE_NOT_FOUND", "No such endpoint";
    MethodNotAllowed => METHOD_NOT_ALLOWED, Unimplemented, "METHOD_NOT_ALLOWED", "Method not allowed";
    TicketDistributionNotFound => NOT_FOUND, NotFound, "TICKET_DISTRIBUTION_NOT_FOUND", "Ticket distribution not found";
    OrderNotFound => NOT_FOUND, NotFound, "ORDER_NOT_FOUND", "Order not found";
    GroupNotFound => NOT_FOUND, NotFound, "GROUP_NOT_FOUND", "Ticket distribution group not found";
    OrderNotConfirmed => CONFLICT, FailedPrecondition, "ORDER_NOT_CONFIRMED", "Order is not confirmed";
    GenerationTimeout => GATEWAY_TIMEOUT, DeadlineExceeded, "GENERATION_TIMEOUT", "Timed out waiting for generation";
    PdfTicketNotFound => NOT_FOUND, NotFound, "PDF_TICKET_NOT_FOUND", "PDF ticket not found";
    NoValidTickets => CONFLICT, FailedPrecondition, "NO_VALID_TICKETS", "No valid ticket to print";
    InvalidEmailAddress => BAD_REQUEST, InvalidArgument, "INVALID_EMAIL_ADDRESS", "Invalid e-mail address";
    TicketNotInOrder => BAD_REQUEST, InvalidArgument, "TICKET_NOT_IN_ORDER", "Ticket is not part of the order";
    TicketNotValid => CONFLICT, FailedPrecondition, "TICKET_NOT_VALID", "Ticket is not valid";
    IdempotencyKeyReused => CONFLICT, AlreadyExists, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key used for another request";
    SendNotFound => NOT_FOUND, NotFound, "SEND_NOT_FOUND", "Send not found";
    RequestTimeout => REQUEST_TIMEOUT, DeadlineExceeded, "REQUEST_TIMEOUT", "The request took too long";
    TooManyRequests => TOO_MANY_REQUESTS, ResourceExhausted, "TOO_MANY_REQUESTS", "Too many requests";
    Unauthenticated => UNAUTHORIZED, Unauthenticated, "UNAUTHENTICATED", "Not authenticated";
    ForeignOrigin => FORBIDDEN, PermissionDenied, "FOREIGN_ORIGIN", "Request from another origin or host";
    Unavailable => SERVICE_UNAVAILABLE, Unavailable, "SERVICE_UNAVAILABLE", "Service unavailable";
    Internal => INTERNAL_SERVER_ERROR, Internal, "INTERNAL_ERROR", "Internal error";
}

impl ErrorCode {
    /// The code whose stable string this is.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// A gRPC status of this code's gRPC code that carries the stable code in its metadata.
    pub fn status(self, message: impl Into<String>) -> tonic::Status {
        let mut status = tonic::Status::new(self.grpc_code(), message);
        status
            .metadata_mut()
            .insert(CODE_KEY, MetadataValue::from_static(self.as_str()));
        status
    }

    /// The code a status carries in its metadata; `None` when it carries none or one this
    /// table does not know (a worker of another version).
    pub fn of(status: &tonic::Status) -> Option<Self> {
        Self::parse(status.metadata().get(CODE_KEY)?.to_str().ok()?)
    }

    /// The code for an HTTP status produced outside a handler (a layer or the framework).
    pub fn for_http_status(status: StatusCode) -> Self {
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

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_round_trips_through_a_grpc_status() {
        for &code in ErrorCode::ALL {
            let status = code.status("why");
            assert_eq!(status.code(), code.grpc_code(), "{code}");
            assert_eq!(status.message(), "why", "{code}");
            assert_eq!(ErrorCode::of(&status), Some(code), "{code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code), "{code}");
        }
    }

    #[test]
    fn strings_are_unique_upper_snake_case() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{s}"
            );
        }
    }

    #[test]
    fn an_unknown_or_absent_code_is_no_code() {
        assert_eq!(ErrorCode::of(&tonic::Status::not_found("no order")), None);
        let mut typo = tonic::Status::not_found("no order");
        typo.metadata_mut()
            .insert(CODE_KEY, MetadataValue::from_static("ORDER_NOT_FOUNDD"));
        assert_eq!(ErrorCode::of(&typo), None);
    }

    /// A client error over HTTP is a caller's error over gRPC too, so a worker's refusal
    /// is never retried as if the worker had failed.
    #[test]
    fn client_errors_are_caller_errors_in_grpc_too() {
        for &code in ErrorCode::ALL {
            let server_side = matches!(
                code.grpc_code(),
                Code::Internal | Code::Unavailable | Code::Unknown | Code::DataLoss
            );
            if code.http_status().is_client_error() {
                assert!(!server_side, "{code}");
            }
            if server_side {
                assert!(code.http_status().is_server_error(), "{code}");
            }
        }
    }
}

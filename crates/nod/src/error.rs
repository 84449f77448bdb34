//! What can go wrong talking to NOD, sorted by what the caller should do about it: a
//! rejection is NOD's final word (the ticket distribution fails), an unavailable NOD is
//! worth trying again later, and an unknown group is a fact about the group.

use crate::model::OrderGroupId;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodError {
    /// NOD refused the request for good (a 4xx other than 404-unknown-group, 408 and
    /// 429). Sending it again changes nothing, so the client never retries it.
    #[error("NOD rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// NOD does not know this order group.
    #[error("order group {id} is not in NOD")]
    NotFound { id: OrderGroupId },
    /// NOD could not answer now. The client already retried `attempts` times with
    /// backoff; the caller may try again later (every operation is idempotent).
    #[error("NOD unavailable after {attempts} attempt(s): {cause}")]
    Unavailable { cause: Transient, attempts: u32 },
}

impl NodError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn transient(cause: Transient) -> Self {
        Self::Unavailable { cause, attempts: 1 }
    }
}

/// Why NOD could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Transient {
    /// 429: NOD asks callers to slow down, possibly saying for how long.
    #[error("rate limited (429){}", retry_after_text(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx or 408.
    #[error("HTTP {status}: {message}")]
    Server { status: u16, message: String },
    /// No connection, or it broke before an answer arrived.
    #[error("connection failed: {0}")]
    Connection(String),
    /// No answer within the configured request timeout.
    #[error("timed out")]
    Timeout,
    /// A success status with a body that is not what the contract says. Retried because
    /// every call is idempotent and such answers usually come from a proxy in between.
    #[error("unreadable answer: {0}")]
    BadResponse(String),
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(", retry after {} ms", d.as_millis()))
        .unwrap_or_default()
}

/// A `NodClientSettings` that cannot work, named by its key so start-up can say which.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("nod.{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

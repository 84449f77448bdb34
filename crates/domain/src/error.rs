//! Why an order event was turned away. The `Display` form is what goes into the
//! dead-letter queue's reason header, so it names the JSON path and reads on its own.

use crate::ids::{FareProductId, OrderLineId, TravellerId};
use chrono::{DateTime, Utc};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The bytes are not an order event: not JSON, a wrong type, a missing field.
    Malformed { path: String, message: String },
    /// A well-formed event that breaks a rule of CONTRACT.md section 2.
    Invalid { path: String, reason: Violation },
}

impl OrderError {
    /// The JSON path the error is about (`order.orderLines[0].version`); `.` for the
    /// document as a whole.
    pub fn path(&self) -> &str {
        match self {
            Self::Malformed { path, .. } | Self::Invalid { path, .. } => path,
        }
    }

    /// A stable, machine-readable kind: `MALFORMED` or `INVALID`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "MALFORMED",
            Self::Invalid { .. } => "INVALID",
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: Violation) -> Self {
        Self::Invalid {
            path: path.into(),
            reason,
        }
    }
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { path, message } if path.is_empty() || path == "." => {
                write!(f, "malformed order event: {message}")
            }
            Self::Malformed { path, message } => {
                write!(f, "malformed order event: {path}: {message}")
            }
            Self::Invalid { path, reason } => write!(f, "invalid order event: {path}: {reason}"),
        }
    }
}

/// The rule an order breaks. Each message is phrased to follow the path it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("must not be empty")]
    Empty,
    #[error("must be at least 1")]
    ZeroVersion,
    #[error("{0} is not an organisation id (organisation ids are positive)")]
    NotPositive(i64),
    #[error("duplicate order line id \"{0}\"")]
    DuplicateLineId(OrderLineId),
    #[error("duplicate traveller id \"{0}\"")]
    DuplicateTravellerId(TravellerId),
    #[error("duplicate fare product id \"{0}\" in the same order line")]
    DuplicateFareProductId(FareProductId),
    #[error("duplicate leg id {0:?} in the same order line")]
    DuplicateLegId(String),
    #[error("a CONFIRMED order line needs at least one MAIN fare product")]
    NoMainProduct,
    #[error("traveller \"{0}\" is not one of order.travellers")]
    UnknownTraveller(TravellerId),
    #[error("departureTime {departure} is after arrivalTime {arrival}")]
    DepartureAfterArrival {
        departure: DateTime<Utc>,
        arrival: DateTime<Utc>,
    },
    #[error("departureTime {departure} is before the previous leg's departureTime {previous}; legs must be in travel order")]
    LegsOutOfOrder {
        previous: DateTime<Utc>,
        departure: DateTime<Utc>,
    },
    #[error("required for an order line without legs")]
    MissingValidity,
    #[error("startOfValidity {start} is not before endOfValidity {end}")]
    EmptyValidity {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("an OrderConfirmed event cannot carry an order with status CANCELLED")]
    ConfirmedEventForCancelledOrder,
    #[error("has {count} entries, more than the {max} allowed (intake.{setting})")]
    TooMany {
        count: usize,
        max: usize,
        setting: &'static str,
    },
    #[error("is {length} characters long, more than the {max} allowed (intake.{setting})")]
    TooLong {
        length: usize,
        max: usize,
        setting: &'static str,
    },
    #[error("contains the control character U+{code:04X} at character {position}; control characters (NUL, line breaks, tabs, …) are not allowed")]
    ControlCharacter { code: u32, position: usize },
    #[error("{version} is above 2147483647, the largest version the database and the event schemas hold")]
    VersionTooLarge { version: u32 },
    #[error("{at} is outside the years 0001 to 9999")]
    YearOutOfRange { at: DateTime<Utc> },
    #[error("the order would generate {count} tickets, more than the {max} allowed (intake.max_tickets_per_order)")]
    TooManyTickets { count: usize, max: usize },
}

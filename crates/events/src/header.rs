//! What every event about one order version carries, checked once against the ranges the
//! schema can hold: the order version is an Avro `int`, and timestamps travel as RFC 3339
//! strings (four-digit years) and `timestamp-micros`. A value outside them is refused here,
//! where the event is built, rather than by the relay long after the change committed.

use crate::EventError;
use chrono::{DateTime, Datelike, Timelike, Utc};

/// The header fields shared by both records: correlation id, timestamp, organisation, order
/// and order version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    pub(crate) correlation_id: Option<String>,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) organisation_id: i64,
    pub(crate) order_id: String,
    pub(crate) order_version: i32,
}

impl EventHeader {
    pub fn new(
        correlation_id: Option<String>,
        timestamp: DateTime<Utc>,
        organisation_id: i64,
        order_id: String,
        order_version: u32,
    ) -> Result<Self, EventError> {
        Ok(Self {
            correlation_id,
            timestamp: checked_timestamp("timestamp", timestamp)?,
            organisation_id,
            order_id,
            order_version: checked_int("orderVersion", order_version)?,
        })
    }

    /// The same header for another version of the order (a change to a group kept from an
    /// earlier version can complete that version too).
    pub fn for_version(&self, order_version: u32) -> Result<Self, EventError> {
        Ok(Self {
            order_version: checked_int("orderVersion", order_version)?,
            ..self.clone()
        })
    }

    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    pub fn order_version(&self) -> i32 {
        self.order_version
    }
}

/// An Avro `int` field given as the domain's `u32`.
pub(crate) fn checked_int(field: &'static str, value: u32) -> Result<i32, EventError> {
    i32::try_from(value).map_err(|_| EventError::OutOfRange {
        field,
        value: value.to_string(),
        range: "0 to 2147483647",
    })
}

/// A timestamp the JSON form can write and read back: years 0001 to 9999, at most
/// microsecond precision (finer digits are dropped, as the JSON form always did).
pub(crate) fn checked_timestamp(
    field: &'static str,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>, EventError> {
    if !(1..=9999).contains(&at.year()) {
        return Err(EventError::OutOfRange {
            field,
            value: at.to_rfc3339(),
            range: "years 0001 to 9999",
        });
    }
    let nanos = at.nanosecond();
    Ok(at.with_nanosecond(nanos - nanos % 1_000).unwrap_or(at))
}

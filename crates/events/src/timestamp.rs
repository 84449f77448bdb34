//! Timestamps are RFC 3339 strings with microseconds in the outbox JSON and
//! `timestamp-micros` longs in Avro; anything finer than a microsecond would be lost on the
//! way, so it is refused rather than truncated.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let at = DateTime::parse_from_rfc3339(&text)
        .map_err(|e| D::Error::custom(format!("`{text}` is not an RFC 3339 timestamp: {e}")))?
        .to_utc();
    if at.nanosecond() % 1_000 != 0 {
        return Err(D::Error::custom(format!(
            "`{text}` is more precise than a microsecond"
        )));
    }
    Ok(at)
}

pub(crate) fn to_micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

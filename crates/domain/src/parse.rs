//! From the bytes of a Kafka message to an order event that generation may trust.

use crate::error::OrderError;
use crate::limits::Limits;
use crate::order::{Order, OrderEvent};
use crate::validate::validate_within;
use chrono::{DateTime, SubsecRound, Utc};

/// [`parse_order_event_within`] the default [`Limits`].
pub fn parse_order_event(bytes: &[u8]) -> Result<OrderEvent, OrderError> {
    parse_order_event_within(bytes, &Limits::default())
}

/// Parses, normalises and validates one message of `order-events-<env>` within `limits`.
/// A parse error names the JSON path it happened at, so the dead-letter header points at
/// the field.
pub fn parse_order_event_within(bytes: &[u8], limits: &Limits) -> Result<OrderEvent, OrderError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut event: OrderEvent =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| OrderError::Malformed {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    deserializer.end().map_err(|e| OrderError::Malformed {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    normalise(&mut event);
    validate_within(&event, limits)?;
    Ok(event)
}

/// Truncates every timestamp of the event to whole microseconds, the precision PostgreSQL
/// keeps, so a value read back from the store equals the one generated from the event.
pub fn normalise(event: &mut OrderEvent) {
    event.timestamp = to_micros(event.timestamp);
    normalise_order(&mut event.order);
}

/// [`normalise`] for an order on its own.
pub fn normalise_order(order: &mut Order) {
    order.last_confirmed_at = order.last_confirmed_at.map(to_micros);
    for line in &mut order.order_lines {
        line.start_of_validity = line.start_of_validity.map(to_micros);
        line.end_of_validity = line.end_of_validity.map(to_micros);
        for leg in &mut line.legs {
            leg.departure_time = to_micros(leg.departure_time);
            leg.arrival_time = to_micros(leg.arrival_time);
        }
    }
}

/// One timestamp truncated to whole microseconds.
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

#[cfg(test)]
mod tests;

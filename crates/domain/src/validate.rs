//! The rules an order must satisfy before anything is generated from it (CONTRACT.md
//! section 2). Generation relies on them: it does not check again.

use crate::error::{OrderError, Violation};
use crate::ids::TravellerId;
use crate::limits::Limits;
use crate::order::{
    FareProductKind, Order, OrderEvent, OrderEventType, OrderLine, OrderLineStatus, OrderStatus,
};
use std::collections::HashSet;

/// [`validate_within`] the default [`Limits`].
pub fn validate(event: &OrderEvent) -> Result<(), OrderError> {
    validate_within(event, &Limits::default())
}

/// Checks an event: that it stays within `limits`, its order, that the event type agrees
/// with the order's status, and last the tickets it generates. The first rule broken is
/// returned, with the JSON path of the offending field.
pub fn validate_within(event: &OrderEvent, limits: &Limits) -> Result<(), OrderError> {
    limits.check(event)?;
    validate_rules(event)?;
    limits.check_tickets(event)
}

fn validate_rules(event: &OrderEvent) -> Result<(), OrderError> {
    if event.kind == OrderEventType::OrderConfirmed && event.order.status == OrderStatus::Cancelled
    {
        return Err(OrderError::invalid(
            "order.status",
            Violation::ConfirmedEventForCancelledOrder,
        ));
    }
    validate_order(&event.order)
}

/// Checks an order on its own. Paths start at `order`, as in the event.
pub fn validate_order(order: &Order) -> Result<(), OrderError> {
    if order.id.as_str().is_empty() {
        return Err(OrderError::invalid("order.id", Violation::Empty));
    }
    if order.version == 0 {
        return Err(OrderError::invalid("order.version", Violation::ZeroVersion));
    }
    if order.organisation_id.0 <= 0 {
        return Err(OrderError::invalid(
            "order.organisationId",
            Violation::NotPositive(order.organisation_id.0),
        ));
    }

    let mut travellers = HashSet::new();
    for (i, traveller) in order.travellers.iter().enumerate() {
        if traveller.id.as_str().is_empty() {
            return Err(OrderError::invalid(
                format!("order.travellers[{i}].id"),
                Violation::Empty,
            ));
        }
        if !travellers.insert(&traveller.id) {
            let reason = Violation::DuplicateTravellerId(traveller.id.clone());
            return Err(OrderError::invalid(
                format!("order.travellers[{i}].id"),
                reason,
            ));
        }
    }

    let mut line_ids = HashSet::new();
    for (i, line) in order.order_lines.iter().enumerate() {
        let path = format!("order.orderLines[{i}]");
        if line.id.as_str().is_empty() {
            return Err(OrderError::invalid(format!("{path}.id"), Violation::Empty));
        }
        if !line_ids.insert(&line.id) {
            return Err(OrderError::invalid(
                format!("{path}.id"),
                Violation::DuplicateLineId(line.id.clone()),
            ));
        }
        validate_line(&path, line, &travellers)?;
    }
    Ok(())
}

fn validate_line(
    path: &str,
    line: &OrderLine,
    travellers: &HashSet<&TravellerId>,
) -> Result<(), OrderError> {
    if line.version == 0 {
        return Err(OrderError::invalid(
            format!("{path}.version"),
            Violation::ZeroVersion,
        ));
    }

    let mut product_ids = HashSet::new();
    for (j, product) in line.fare_products.iter().enumerate() {
        let product_path = format!("{path}.fareProducts[{j}]");
        if product.id.as_str().is_empty() {
            return Err(OrderError::invalid(
                format!("{product_path}.id"),
                Violation::Empty,
            ));
        }
        if !product_ids.insert(&product.id) {
            let reason = Violation::DuplicateFareProductId(product.id.clone());
            return Err(OrderError::invalid(format!("{product_path}.id"), reason));
        }
        for (k, traveller) in product.traveller_ids.iter().enumerate() {
            if !travellers.contains(traveller) {
                let reason = Violation::UnknownTraveller(traveller.clone());
                return Err(OrderError::invalid(
                    format!("{product_path}.travellerIds[{k}]"),
                    reason,
                ));
            }
        }
    }
    let has_main = line
        .fare_products
        .iter()
        .any(|p| p.kind == FareProductKind::Main);
    if line.status == OrderLineStatus::Confirmed && !has_main {
        return Err(OrderError::invalid(
            format!("{path}.fareProducts"),
            Violation::NoMainProduct,
        ));
    }

    let mut leg_ids = HashSet::new();
    for (n, leg) in line.legs.iter().enumerate() {
        let leg_path = format!("{path}.legs[{n}]");
        if leg.leg_id.is_empty() {
            return Err(OrderError::invalid(
                format!("{leg_path}.legId"),
                Violation::Empty,
            ));
        }
        if !leg_ids.insert(leg.leg_id.as_str()) {
            let reason = Violation::DuplicateLegId(leg.leg_id.clone());
            return Err(OrderError::invalid(format!("{leg_path}.legId"), reason));
        }
        // The authority decides the ticketing segments; an empty one would merge operators.
        if leg.authority_ref.is_empty() {
            return Err(OrderError::invalid(
                format!("{leg_path}.authorityRef"),
                Violation::Empty,
            ));
        }
        if leg.departure_time > leg.arrival_time {
            let reason = Violation::DepartureAfterArrival {
                departure: leg.departure_time,
                arrival: leg.arrival_time,
            };
            return Err(OrderError::invalid(
                format!("{leg_path}.departureTime"),
                reason,
            ));
        }
        if let Some(previous) = n.checked_sub(1).map(|p| &line.legs[p]) {
            if leg.departure_time < previous.departure_time {
                let reason = Violation::LegsOutOfOrder {
                    previous: previous.departure_time,
                    departure: leg.departure_time,
                };
                return Err(OrderError::invalid(
                    format!("{leg_path}.departureTime"),
                    reason,
                ));
            }
        }
        for (s, seat) in leg.seats.iter().enumerate() {
            if let Some(traveller) = &seat.traveller_id {
                if !travellers.contains(traveller) {
                    let reason = Violation::UnknownTraveller(traveller.clone());
                    return Err(OrderError::invalid(
                        format!("{leg_path}.seats[{s}].travellerId"),
                        reason,
                    ));
                }
            }
        }
    }

    // Legs carry their own times; without them the line's validity is all there is.
    match (line.start_of_validity, line.end_of_validity) {
        (None, _) if line.legs.is_empty() => Err(OrderError::invalid(
            format!("{path}.startOfValidity"),
            Violation::MissingValidity,
        )),
        (_, None) if line.legs.is_empty() => Err(OrderError::invalid(
            format!("{path}.endOfValidity"),
            Violation::MissingValidity,
        )),
        (Some(start), Some(end)) if start >= end => Err(OrderError::invalid(
            format!("{path}.startOfValidity"),
            Violation::EmptyValidity { start, end },
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;

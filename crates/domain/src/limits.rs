//! The bounds an order event must stay within before anything is recorded or generated
//! from it: how many entries each list may hold, how many tickets the order may make, how
//! long and of which characters its strings are, and which numbers and instants fit every
//! place they go (the database columns, the Avro event schemas, the RFC 3339 JSON forms).
//!
//! A value outside them could otherwise pass the rules of `validate` and then be refused
//! much later by PostgreSQL or the event encoder, where no dead-letter reason reaches the
//! sender. The defaults are far above what a real order needs (a 20-leg journey for nine
//! travellers uses a small fraction of each); the settings section `intake` changes them.

use crate::error::{OrderError, Violation};
use crate::generation::ticket_count;
use crate::order::{Order, OrderEvent, OrderEventType, OrderLine};
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;

/// The largest order or order line version: the columns are PostgreSQL `integer` and the
/// event schemas' `orderVersion` and `orderLineVersion` are Avro `int`.
pub const MAX_VERSION: u32 = i32::MAX as u32;

/// Years an instant may fall in: RFC 3339 has four-digit years, and the events carry them
/// as such.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The longest id a setting may allow: an index row of two ids of four-byte characters
/// stays below PostgreSQL's 2704-byte bound for a b-tree entry.
pub const MAX_ID_CHARS_CEILING: usize = 300;

/// Limits on one order event. Counts are entries of a JSON array; lengths are characters
/// (Unicode scalar values).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// `order.orderLines`.
    pub max_order_lines: usize,
    /// `order.travellers`, and the `travellerIds` of one fare product.
    pub max_travellers: usize,
    /// `fareProducts` of one order line.
    pub max_fare_products_per_line: usize,
    /// `legs` of one order line.
    pub max_legs_per_line: usize,
    /// `seats` of one leg.
    pub max_seats_per_leg: usize,
    /// `fareZones` of one order line.
    pub max_fare_zones_per_line: usize,
    /// Tickets the order's version generates: MAIN products times ticketing segments,
    /// summed over its CONFIRMED lines.
    pub max_tickets_per_order: usize,
    /// Ids and references: every `id`, `ref` and `…Ref`, customer ids, stop places, fare
    /// zones, `mode`, `subMode`, seat and railcar numbers, the message key and the stored
    /// `traceparent` header.
    pub max_id_chars: usize,
    /// Names of travellers, fare products and stop places.
    pub max_name_chars: usize,
    /// Free text: `correlationId` and the contact's `email`.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_order_lines: 50,
            max_travellers: 100,
            max_fare_products_per_line: 200,
            max_legs_per_line: 50,
            max_seats_per_leg: 100,
            max_fare_zones_per_line: 200,
            max_tickets_per_order: 1000,
            max_id_chars: 128,
            max_name_chars: 256,
            max_text_chars: 1024,
        }
    }
}

/// Which length limit a string is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Id,
    Name,
    Text,
}

impl Limits {
    /// The first limit that cannot work, as `(field, reason)`: a limit of 0 would refuse
    /// every order, and a few are bounded by where the values go.
    pub fn first_invalid(&self) -> Option<(&'static str, String)> {
        let counts = [
            ("max_order_lines", self.max_order_lines),
            ("max_travellers", self.max_travellers),
            (
                "max_fare_products_per_line",
                self.max_fare_products_per_line,
            ),
            ("max_legs_per_line", self.max_legs_per_line),
            ("max_seats_per_leg", self.max_seats_per_leg),
            ("max_fare_zones_per_line", self.max_fare_zones_per_line),
            ("max_tickets_per_order", self.max_tickets_per_order),
            ("max_id_chars", self.max_id_chars),
            ("max_name_chars", self.max_name_chars),
            ("max_text_chars", self.max_text_chars),
        ];
        if let Some((field, _)) = counts.iter().find(|(_, value)| *value == 0) {
            return Some((field, "must be at least 1".to_owned()));
        }
        if self.max_id_chars > MAX_ID_CHARS_CEILING {
            return Some((
                "max_id_chars",
                format!(
                    "must be at most {MAX_ID_CHARS_CEILING}, so that ids fit a PostgreSQL index row"
                ),
            ));
        }
        // A ticket's position in its group is a PostgreSQL `integer`.
        if self.max_tickets_per_order > i32::MAX as usize {
            return Some((
                "max_tickets_per_order",
                format!("must be at most {}", i32::MAX),
            ));
        }
        None
    }

    /// Checks every bound on `event` except the ticket count, which needs an order that
    /// passed the rules of `validate` (see [`Limits::check_tickets`]). Each list's length is
    /// checked before its entries, so an oversized list is refused without walking it.
    pub fn check(&self, event: &OrderEvent) -> Result<(), OrderError> {
        if let Some(correlation_id) = &event.correlation_id {
            self.text("correlationId", correlation_id, Class::Text)?;
        }
        self.instant("timestamp", event.timestamp)?;
        self.order(&event.order)
    }

    /// The tickets the event's version generates stay within `max_tickets_per_order`. The
    /// order must have passed the rules of `validate`.
    pub fn check_tickets(&self, event: &OrderEvent) -> Result<(), OrderError> {
        let cancelled = event.kind == OrderEventType::OrderCancelled;
        let count = ticket_count(&event.order, cancelled);
        if count > self.max_tickets_per_order {
            return Err(OrderError::invalid(
                "order.orderLines",
                Violation::TooManyTickets {
                    count,
                    max: self.max_tickets_per_order,
                },
            ));
        }
        Ok(())
    }

    /// A value of the Kafka message that is stored with the order (its key, its
    /// `traceparent` header), held to the rules of an id. `what` names it in the reason.
    pub fn check_message_value(&self, what: &str, value: &str) -> Result<(), OrderError> {
        self.text(what, value, Class::Id)
    }

    fn order(&self, order: &Order) -> Result<(), OrderError> {
        self.text("order.id", order.id.as_str(), Class::Id)?;
        self.version("order.version", order.version)?;
        if let Some(at) = order.last_confirmed_at {
            self.instant("order.lastConfirmedAt", at)?;
        }
        if let Some(contact) = order.contact_info.as_ref().and_then(|c| c.contact.as_ref()) {
            if let Some(customer) = &contact.customer_id {
                let path = "order.contactInfo.contact.customerId";
                self.text(path, customer.as_str(), Class::Id)?;
            }
            if let Some(email) = &contact.email {
                self.text("order.contactInfo.contact.email", email, Class::Text)?;
            }
        }
        self.count(
            "order.travellers",
            order.travellers.len(),
            self.max_travellers,
            "max_travellers",
        )?;
        for (i, traveller) in order.travellers.iter().enumerate() {
            let path = format!("order.travellers[{i}]");
            self.text(&format!("{path}.id"), traveller.id.as_str(), Class::Id)?;
            if let Some(name) = &traveller.name {
                self.text(&format!("{path}.name"), name, Class::Name)?;
            }
            if let Some(profile) = &traveller.user_profile_ref {
                self.text(&format!("{path}.userProfileRef"), profile, Class::Id)?;
            }
        }
        self.count(
            "order.orderLines",
            order.order_lines.len(),
            self.max_order_lines,
            "max_order_lines",
        )?;
        for (i, line) in order.order_lines.iter().enumerate() {
            self.line(&format!("order.orderLines[{i}]"), line)?;
        }
        Ok(())
    }

    fn line(&self, path: &str, line: &OrderLine) -> Result<(), OrderError> {
        self.text(&format!("{path}.id"), line.id.as_str(), Class::Id)?;
        self.version(&format!("{path}.version"), line.version)?;
        if let Some(at) = line.start_of_validity {
            self.instant(&format!("{path}.startOfValidity"), at)?;
        }
        if let Some(at) = line.end_of_validity {
            self.instant(&format!("{path}.endOfValidity"), at)?;
        }
        if let Some(holder) = &line.distribution_holder_customer_id {
            let field = format!("{path}.distributionHolderCustomerId");
            self.text(&field, holder.as_str(), Class::Id)?;
        }
        for (name, stop) in [
            ("fromStopPlace", &line.from_stop_place),
            ("toStopPlace", &line.to_stop_place),
        ] {
            if let Some(stop) = stop {
                self.text(&format!("{path}.{name}.id"), &stop.id, Class::Id)?;
                if let Some(stop_name) = &stop.name {
                    self.text(&format!("{path}.{name}.name"), stop_name, Class::Name)?;
                }
            }
        }

        self.count(
            &format!("{path}.fareZones"),
            line.fare_zones.len(),
            self.max_fare_zones_per_line,
            "max_fare_zones_per_line",
        )?;
        for (z, zone) in line.fare_zones.iter().enumerate() {
            self.text(&format!("{path}.fareZones[{z}]"), zone, Class::Id)?;
        }

        self.count(
            &format!("{path}.fareProducts"),
            line.fare_products.len(),
            self.max_fare_products_per_line,
            "max_fare_products_per_line",
        )?;
        for (j, product) in line.fare_products.iter().enumerate() {
            let product_path = format!("{path}.fareProducts[{j}]");
            self.text(
                &format!("{product_path}.id"),
                product.id.as_str(),
                Class::Id,
            )?;
            self.text(
                &format!("{product_path}.ref"),
                &product.reference,
                Class::Id,
            )?;
            if let Some(name) = &product.name {
                self.text(&format!("{product_path}.name"), name, Class::Name)?;
            }
            self.count(
                &format!("{product_path}.travellerIds"),
                product.traveller_ids.len(),
                self.max_travellers,
                "max_travellers",
            )?;
            for (k, traveller) in product.traveller_ids.iter().enumerate() {
                let field = format!("{product_path}.travellerIds[{k}]");
                self.text(&field, traveller.as_str(), Class::Id)?;
            }
        }

        self.count(
            &format!("{path}.legs"),
            line.legs.len(),
            self.max_legs_per_line,
            "max_legs_per_line",
        )?;
        for (n, leg) in line.legs.iter().enumerate() {
            let leg_path = format!("{path}.legs[{n}]");
            let ids = [
                ("legId", Some(&leg.leg_id)),
                ("mode", Some(&leg.mode)),
                ("subMode", leg.sub_mode.as_ref()),
                ("authorityRef", Some(&leg.authority_ref)),
                ("serviceJourneyRef", leg.service_journey_ref.as_ref()),
                (
                    "datedServiceJourneyRef",
                    leg.dated_service_journey_ref.as_ref(),
                ),
                ("fromStopPlace", Some(&leg.from_stop_place)),
                ("toStopPlace", Some(&leg.to_stop_place)),
            ];
            for (name, value) in ids {
                if let Some(value) = value {
                    self.text(&format!("{leg_path}.{name}"), value, Class::Id)?;
                }
            }
            self.instant(&format!("{leg_path}.departureTime"), leg.departure_time)?;
            self.instant(&format!("{leg_path}.arrivalTime"), leg.arrival_time)?;
            self.count(
                &format!("{leg_path}.seats"),
                leg.seats.len(),
                self.max_seats_per_leg,
                "max_seats_per_leg",
            )?;
            for (s, seat) in leg.seats.iter().enumerate() {
                let seat_path = format!("{leg_path}.seats[{s}]");
                self.text(
                    &format!("{seat_path}.seatNumber"),
                    &seat.seat_number,
                    Class::Id,
                )?;
                if let Some(railcar) = &seat.railcar_number {
                    self.text(&format!("{seat_path}.railcarNumber"), railcar, Class::Id)?;
                }
                if let Some(traveller) = &seat.traveller_id {
                    let field = format!("{seat_path}.travellerId");
                    self.text(&field, traveller.as_str(), Class::Id)?;
                }
            }
        }
        Ok(())
    }

    fn count(
        &self,
        path: &str,
        count: usize,
        max: usize,
        setting: &'static str,
    ) -> Result<(), OrderError> {
        if count > max {
            return Err(OrderError::invalid(
                path,
                Violation::TooMany {
                    count,
                    max,
                    setting,
                },
            ));
        }
        Ok(())
    }

    /// Length first, so a huge string is refused without scanning all of it.
    fn text(&self, path: &str, value: &str, class: Class) -> Result<(), OrderError> {
        let (max, setting) = match class {
            Class::Id => (self.max_id_chars, "max_id_chars"),
            Class::Name => (self.max_name_chars, "max_name_chars"),
            Class::Text => (self.max_text_chars, "max_text_chars"),
        };
        // Bytes bound characters from above: only a long string needs counting.
        if value.len() > max {
            let length = value.chars().count();
            if length > max {
                return Err(OrderError::invalid(
                    path,
                    Violation::TooLong {
                        length,
                        max,
                        setting,
                    },
                ));
            }
        }
        // PostgreSQL refuses NUL in text; the other control characters would break the
        // headers, logs and documents the value is copied into.
        if let Some((position, character)) = value.chars().enumerate().find(|(_, c)| c.is_control())
        {
            return Err(OrderError::invalid(
                path,
                Violation::ControlCharacter {
                    code: u32::from(character),
                    position,
                },
            ));
        }
        Ok(())
    }

    fn version(&self, path: &str, version: u32) -> Result<(), OrderError> {
        if version > MAX_VERSION {
            return Err(OrderError::invalid(
                path,
                Violation::VersionTooLarge { version },
            ));
        }
        Ok(())
    }

    fn instant(&self, path: &str, at: DateTime<Utc>) -> Result<(), OrderError> {
        if !YEARS.contains(&at.year()) {
            return Err(OrderError::invalid(path, Violation::YearOutOfRange { at }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

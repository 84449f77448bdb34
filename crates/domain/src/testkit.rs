//! Small builders for the unit tests: a valid order in a few lines, to be bent by each test.

use crate::ids::{CustomerId, FareProductId, OrderId, OrderLineId, OrganisationId, TravellerId};
use crate::order::{
    Contact, ContactInfo, FareProduct, FareProductKind, Leg, Order, OrderEvent, OrderEventType,
    OrderLine, OrderLineStatus, OrderStatus, Seat, StopPlace, Traveller,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub fn ts(s: &str) -> DateTime<Utc> {
    s.parse().expect("test timestamp")
}

pub fn traveller(id: &str, name: &str, profile: &str) -> Traveller {
    Traveller {
        id: TravellerId::from(id),
        name: Some(name.to_owned()),
        user_profile_ref: Some(profile.to_owned()),
    }
}

fn product(id: &str, kind: FareProductKind, travellers: &[&str]) -> FareProduct {
    FareProduct {
        id: FareProductId::from(id),
        reference: format!("TST:PreassignedFareProduct:{id}"),
        name: Some(format!("Product {id}")),
        kind,
        traveller_ids: travellers.iter().map(|t| TravellerId::from(*t)).collect(),
    }
}

pub fn main_product(id: &str, travellers: &[&str]) -> FareProduct {
    product(id, FareProductKind::Main, travellers)
}

pub fn supplement(id: &str, travellers: &[&str]) -> FareProduct {
    product(id, FareProductKind::Supplement, travellers)
}

/// A leg on 2027-03-01 from `dep` to `arr` o'clock.
pub fn leg(id: &str, authority: &str, dep: u32, arr: u32, from: &str, to: &str) -> Leg {
    Leg {
        leg_id: id.to_owned(),
        mode: "rail".to_owned(),
        sub_mode: None,
        authority_ref: authority.to_owned(),
        service_journey_ref: Some(format!("TST:ServiceJourney:{id}")),
        dated_service_journey_ref: None,
        departure_time: ts(&format!("2027-03-01T{dep:02}:00:00Z")),
        arrival_time: ts(&format!("2027-03-01T{arr:02}:00:00Z")),
        from_stop_place: from.to_owned(),
        to_stop_place: to.to_owned(),
        seats: Vec::new(),
    }
}

pub fn seat(number: &str, traveller: Option<&str>) -> Seat {
    Seat {
        seat_number: number.to_owned(),
        railcar_number: Some("3".to_owned()),
        traveller_id: traveller.map(TravellerId::from),
    }
}

pub fn stop(id: &str, name: &str) -> Option<StopPlace> {
    Some(StopPlace {
        id: id.to_owned(),
        name: Some(name.to_owned()),
    })
}

/// A zone ticket line (no legs) valid through March 2027.
pub fn zone_line(id: &str, version: u32, products: Vec<FareProduct>) -> OrderLine {
    OrderLine {
        id: OrderLineId::from(id),
        version,
        status: OrderLineStatus::Confirmed,
        start_of_validity: Some(ts("2027-03-01T00:00:00Z")),
        end_of_validity: Some(ts("2027-04-01T00:00:00Z")),
        fare_products: products,
        legs: Vec::new(),
        fare_zones: vec!["TST:FareZone:1".to_owned()],
        from_stop_place: None,
        to_stop_place: None,
        distribution_holder_customer_id: None,
    }
}

pub fn legs_line(id: &str, version: u32, products: Vec<FareProduct>, legs: Vec<Leg>) -> OrderLine {
    OrderLine {
        start_of_validity: None,
        end_of_validity: None,
        legs,
        fare_zones: Vec::new(),
        ..zone_line(id, version, products)
    }
}

/// A CONFIRMED order, version 1, with travellers T1 (adult) and T2 (child).
pub fn order(lines: Vec<OrderLine>) -> Order {
    Order {
        id: OrderId::from("ORD1"),
        version: 1,
        status: OrderStatus::Confirmed,
        organisation_id: OrganisationId(1),
        last_confirmed_at: Some(ts("2027-02-01T10:00:00Z")),
        contact_info: Some(ContactInfo {
            contact: Some(Contact {
                customer_id: Some(CustomerId::from("C1")),
                email: Some("a@example.com".to_owned()),
            }),
        }),
        travellers: vec![
            traveller("T1", "Ada", "TST:UserProfile:Adult"),
            traveller("T2", "Bo", "TST:UserProfile:Child"),
        ],
        order_lines: lines,
    }
}

/// The simplest valid order: one zone ticket for T1.
pub fn zone_order() -> Order {
    order(vec![zone_line("L1", 1, vec![main_product("P1", &["T1"])])])
}

pub fn event(order: Order) -> OrderEvent {
    OrderEvent {
        event_id: Uuid::from_u128(1),
        kind: OrderEventType::OrderConfirmed,
        correlation_id: Some("corr-1".to_owned()),
        timestamp: ts("2027-02-01T10:00:01Z"),
        order,
    }
}

//! The order as the sales platform publishes it (CONTRACT.md section 2), and the checks an
//! order must pass before anything is generated from it.

use crate::ids::{CustomerId, FareProductId, OrderId, OrderLineId, OrganisationId, TravellerId};
use crate::status::UnknownValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// One message on `order-events-<env>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub kind: OrderEventType,
    #[serde(default)]
    pub correlation_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEventType {
    OrderConfirmed,
    OrderCancelled,
}

impl OrderEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderConfirmed => "OrderConfirmed",
            Self::OrderCancelled => "OrderCancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Draft,
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Draft, Self::Confirmed, Self::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "order status",
                value: s.to_owned(),
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub version: u32,
    pub status: OrderStatus,
    pub organisation_id: OrganisationId,
    #[serde(default)]
    pub last_confirmed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub contact_info: Option<ContactInfo>,
    #[serde(default)]
    pub travellers: Vec<Traveller>,
    #[serde(default)]
    pub order_lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInfo {
    #[serde(default)]
    pub contact: Option<Contact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Traveller {
    pub id: TravellerId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user_profile_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderLineStatus {
    Confirmed,
    Credited,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub id: OrderLineId,
    pub version: u32,
    pub status: OrderLineStatus,
    #[serde(default)]
    pub start_of_validity: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_of_validity: Option<DateTime<Utc>>,
    pub fare_products: Vec<FareProduct>,
    #[serde(default)]
    pub legs: Vec<Leg>,
    #[serde(default)]
    pub fare_zones: Vec<String>,
    #[serde(default)]
    pub from_stop_place: Option<StopPlace>,
    #[serde(default)]
    pub to_stop_place: Option<StopPlace>,
    /// The customer who holds the tickets, when not the order's owner.
    #[serde(default)]
    pub distribution_holder_customer_id: Option<CustomerId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FareProductKind {
    Main,
    Supplement,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FareProduct {
    pub id: FareProductId,
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: FareProductKind,
    #[serde(default)]
    pub traveller_ids: Vec<TravellerId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopPlace {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    pub leg_id: String,
    pub mode: String,
    #[serde(default)]
    pub sub_mode: Option<String>,
    pub authority_ref: String,
    #[serde(default)]
    pub service_journey_ref: Option<String>,
    #[serde(default)]
    pub dated_service_journey_ref: Option<String>,
    pub departure_time: DateTime<Utc>,
    pub arrival_time: DateTime<Utc>,
    pub from_stop_place: String,
    pub to_stop_place: String,
    #[serde(default)]
    pub seats: Vec<Seat>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_number: String,
    #[serde(default)]
    pub railcar_number: Option<String>,
    /// The traveller the seat is reserved for; unassigned seats are shared out in order.
    #[serde(default)]
    pub traveller_id: Option<TravellerId>,
}

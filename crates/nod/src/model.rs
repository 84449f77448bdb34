//! NOD's vocabulary as it travels on the wire (CONTRACT.md section 5): camelCase JSON,
//! RFC 3339 timestamps in UTC. The client and the simulator share these types, so the two
//! sides cannot disagree about a field name.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// NOD's id of an order group. NOD mints it; this service only stores and echoes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderGroupId(String);

impl OrderGroupId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position in NOD's transaction feed. Opaque to callers: store it and hand it back as
/// `after` to read on from there. Within one NOD, later entries have greater cursors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    pub fn new(cursor: impl Into<String>) -> Self {
        Self(cursor.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The simulator's form: the entry's sequence number, zero-padded so that the strings
    /// also sort in feed order.
    pub(crate) fn from_sequence(sequence: u64) -> Self {
        Self(format!("{sequence:016}"))
    }

    pub(crate) fn sequence(&self) -> Option<u64> {
        if self.0.is_empty() || !self.0.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.0.parse().ok()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of order NOD holds. This service places only mobile single tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OrderType {
    MobileSingleTicket,
}

/// One order inside an order group: what the travel app downloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    #[serde(rename = "type")]
    pub kind: OrderType,
    /// The ticket content, base64 (standard alphabet, padded) as NOD stores it.
    pub description: String,
}

impl Order {
    /// A mobile single ticket carrying `content`, encoded the way NOD wants it.
    pub fn mobile_single_ticket(content: &[u8]) -> Self {
        Self {
            kind: OrderType::MobileSingleTicket,
            description: base64::engine::general_purpose::STANDARD.encode(content),
        }
    }
}

/// Placing one ticket distribution as one order group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceRequest {
    /// The ticket distribution id. NOD keys idempotency on it: placing the same reference
    /// again returns the group placed first, so a retried placement never makes two.
    pub client_reference: String,
    pub orders: Vec<Order>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
}

/// Where an order group is in its life in NOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderGroupState {
    Distributed,
    PickedUp,
    Activated,
    Cancelled,
    Expired,
}

impl OrderGroupState {
    /// Still usable by a traveller: it can be picked up, activated, cancelled or expire.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Distributed | Self::PickedUp | Self::Activated)
    }
}

/// An order group as NOD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderGroup {
    pub id: OrderGroupId,
    pub client_reference: String,
    pub state: OrderGroupState,
    pub orders: Vec<Order>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What happened to an order group in NOD without this service asking for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionKind {
    PickedUp,
    Activated,
    /// Cancelled from outside (customer service, the operator); a cancellation this
    /// service requested through the back office is answered there and is not repeated here.
    Cancelled,
    Expired,
}

/// One entry of NOD's transaction feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub cursor: Cursor,
    pub order_group_id: OrderGroupId,
    pub client_reference: String,
    pub kind: TransactionKind,
    pub at: DateTime<Utc>,
}

/// The body of `GET /backoffice/transactions`: an envelope, so that fields can be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TransactionPage {
    pub transactions: Vec<Transaction>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// Error code of an unknown order group: the only 404 that means "no such group"
/// (a 404 for a wrong path, e.g. a misconfigured base URL, is a rejection instead).
pub(crate) const ORDER_GROUP_NOT_FOUND: &str = "ORDER_GROUP_NOT_FOUND";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_follow_the_contract() {
        let order = Order::mobile_single_ticket(b"ticket");
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "type": "mobileSingleTicket", "description": "dGlja2V0" })
        );
        assert_eq!(
            serde_json::to_value(OrderGroupState::PickedUp).unwrap(),
            "PICKED_UP"
        );
    }

    #[test]
    fn cursors_sort_as_strings_in_sequence_order() {
        let (a, b) = (Cursor::from_sequence(9), Cursor::from_sequence(10));
        assert!(a.as_str() < b.as_str());
        assert_eq!(b.sequence(), Some(10));
        assert_eq!(Cursor::new("x1").sequence(), None);
        assert_eq!(Cursor::new("+1").sequence(), None);
    }
}

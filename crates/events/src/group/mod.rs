//! `TicketDistributionGroupEvent` (schemas/TicketDistributionGroupEvent.avsc): one record
//! per change to a group or its tickets, with one optional payload field per event type.

use crate::avro::{self, Fields, Record};
use crate::symbols::symbol_enum;
use crate::timestamp;
use crate::EventError;
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod build;
mod payload;

pub use payload::{
    TicketDistributionActivated, TicketDistributionAdded, TicketDistributionCancelled,
    TicketDistributionCancelledExternally, TicketDistributionDistributed,
    TicketDistributionExpired, TicketDistributionFailed, TicketDistributionGroupCreated,
    TicketDistributionPickedUp, TicketDistributionStatusChange,
    TicketDistributionStatusChangeWithReason,
};

symbol_enum! {
    /// What happened; names the payload field that is set.
    pub enum TicketDistributionGroupEventType {
        TicketDistributionGroupCreated => "TicketDistributionGroupCreated",
        TicketDistributionAdded => "TicketDistributionAdded",
        TicketDistributionDistributed => "TicketDistributionDistributed",
        TicketDistributionPickedUp => "TicketDistributionPickedUp",
        TicketDistributionActivated => "TicketDistributionActivated",
        TicketDistributionExpired => "TicketDistributionExpired",
        TicketDistributionCancelled => "TicketDistributionCancelled",
        TicketDistributionCancelledExternally => "TicketDistributionCancelledExternally",
        TicketDistributionFailed => "TicketDistributionFailed",
    }
}

impl TicketDistributionGroupEventType {
    /// The record field that carries this type's payload: the type with a lowercase first
    /// letter.
    pub fn payload_field(self) -> &'static str {
        match self {
            Self::TicketDistributionGroupCreated => "ticketDistributionGroupCreated",
            Self::TicketDistributionAdded => "ticketDistributionAdded",
            Self::TicketDistributionDistributed => "ticketDistributionDistributed",
            Self::TicketDistributionPickedUp => "ticketDistributionPickedUp",
            Self::TicketDistributionActivated => "ticketDistributionActivated",
            Self::TicketDistributionExpired => "ticketDistributionExpired",
            Self::TicketDistributionCancelled => "ticketDistributionCancelled",
            Self::TicketDistributionCancelledExternally => "ticketDistributionCancelledExternally",
            Self::TicketDistributionFailed => "ticketDistributionFailed",
        }
    }
}

symbol_enum! {
    /// The status of a ticket distribution after the change.
    pub enum TicketDistributionStatus {
        Generated => "GENERATED",
        Distributed => "DISTRIBUTED",
        PickedUp => "PICKED_UP",
        Activated => "ACTIVATED",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
        CancelledExternally => "CANCELLED_EXTERNALLY",
        Expired => "EXPIRED",
    }
}

/// The record, field for field. Exactly the payload field named by `event_type` is `Some`;
/// [`TicketDistributionGroupEvent::check`] enforces it, and `encode`/`decode` call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionGroupEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: TicketDistributionGroupEventType,
    pub correlation_id: Option<String>,
    #[serde(with = "timestamp")]
    pub timestamp: DateTime<Utc>,
    pub organisation_id: i64,
    pub order_id: String,
    pub order_version: i32,
    pub ticket_distribution_group_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_group_created: Option<TicketDistributionGroupCreated>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_added: Option<TicketDistributionAdded>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_distributed: Option<TicketDistributionDistributed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_picked_up: Option<TicketDistributionPickedUp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_activated: Option<TicketDistributionActivated>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_expired: Option<TicketDistributionExpired>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_cancelled: Option<TicketDistributionCancelled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_cancelled_externally: Option<TicketDistributionCancelledExternally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_distribution_failed: Option<TicketDistributionFailed>,
}

impl TicketDistributionGroupEvent {
    pub(crate) const RECORD: &'static str = "TicketDistributionGroupEvent";

    /// The types whose payload field is set, in schema order.
    pub fn set_payloads(&self) -> Vec<TicketDistributionGroupEventType> {
        use TicketDistributionGroupEventType as T;
        [
            (
                T::TicketDistributionGroupCreated,
                self.ticket_distribution_group_created.is_some(),
            ),
            (
                T::TicketDistributionAdded,
                self.ticket_distribution_added.is_some(),
            ),
            (
                T::TicketDistributionDistributed,
                self.ticket_distribution_distributed.is_some(),
            ),
            (
                T::TicketDistributionPickedUp,
                self.ticket_distribution_picked_up.is_some(),
            ),
            (
                T::TicketDistributionActivated,
                self.ticket_distribution_activated.is_some(),
            ),
            (
                T::TicketDistributionExpired,
                self.ticket_distribution_expired.is_some(),
            ),
            (
                T::TicketDistributionCancelled,
                self.ticket_distribution_cancelled.is_some(),
            ),
            (
                T::TicketDistributionCancelledExternally,
                self.ticket_distribution_cancelled_externally.is_some(),
            ),
            (
                T::TicketDistributionFailed,
                self.ticket_distribution_failed.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(t, set)| set.then_some(t))
        .collect()
    }

    /// Exactly the payload field that `event_type` names must be set.
    pub fn check(&self) -> Result<(), EventError> {
        let set = self.set_payloads();
        if set == [self.event_type] {
            return Ok(());
        }
        Err(EventError::PayloadMismatch {
            event_type: self.event_type,
            expected: self.event_type.payload_field(),
            set: set.into_iter().map(|t| t.payload_field()).collect(),
        })
    }
}

impl Record for TicketDistributionGroupEvent {
    fn to_avro(&self) -> Value {
        avro::record([
            ("eventId", avro::uuid(&self.event_id)),
            ("type", avro::string(self.event_type.as_str())),
            (
                "correlationId",
                avro::optional(self.correlation_id.as_deref(), avro::string),
            ),
            ("timestamp", avro::timestamp(&self.timestamp)),
            ("organisationId", Value::Long(self.organisation_id)),
            ("orderId", avro::string(&self.order_id)),
            ("orderVersion", Value::Int(self.order_version)),
            (
                "ticketDistributionGroupId",
                avro::uuid(&self.ticket_distribution_group_id),
            ),
            (
                "ticketDistributionGroupCreated",
                avro::optional_record(self.ticket_distribution_group_created.as_ref()),
            ),
            (
                "ticketDistributionAdded",
                avro::optional_record(self.ticket_distribution_added.as_ref()),
            ),
            (
                "ticketDistributionDistributed",
                avro::optional_record(self.ticket_distribution_distributed.as_ref()),
            ),
            (
                "ticketDistributionPickedUp",
                avro::optional_record(self.ticket_distribution_picked_up.as_ref()),
            ),
            (
                "ticketDistributionActivated",
                avro::optional_record(self.ticket_distribution_activated.as_ref()),
            ),
            (
                "ticketDistributionExpired",
                avro::optional_record(self.ticket_distribution_expired.as_ref()),
            ),
            (
                "ticketDistributionCancelled",
                avro::optional_record(self.ticket_distribution_cancelled.as_ref()),
            ),
            (
                "ticketDistributionCancelledExternally",
                avro::optional_record(self.ticket_distribution_cancelled_externally.as_ref()),
            ),
            (
                "ticketDistributionFailed",
                avro::optional_record(self.ticket_distribution_failed.as_ref()),
            ),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            event_id: f.uuid("eventId")?,
            event_type: f.symbol("type")?,
            correlation_id: f.optional_string("correlationId")?,
            timestamp: f.timestamp("timestamp")?,
            organisation_id: f.long("organisationId")?,
            order_id: f.string("orderId")?,
            order_version: f.int("orderVersion")?,
            ticket_distribution_group_id: f.uuid("ticketDistributionGroupId")?,
            ticket_distribution_group_created: f.record("ticketDistributionGroupCreated")?,
            ticket_distribution_added: f.record("ticketDistributionAdded")?,
            ticket_distribution_distributed: f.record("ticketDistributionDistributed")?,
            ticket_distribution_picked_up: f.record("ticketDistributionPickedUp")?,
            ticket_distribution_activated: f.record("ticketDistributionActivated")?,
            ticket_distribution_expired: f.record("ticketDistributionExpired")?,
            ticket_distribution_cancelled: f.record("ticketDistributionCancelled")?,
            ticket_distribution_cancelled_externally: f
                .record("ticketDistributionCancelledExternally")?,
            ticket_distribution_failed: f.record("ticketDistributionFailed")?,
        })
    }
}

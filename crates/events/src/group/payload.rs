//! The payload records of `TicketDistributionGroupEvent`, one per event type.

use super::TicketDistributionStatus;
use crate::avro::{self, Fields, Record};
use crate::timestamp;
use crate::EventError;
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionGroupCreated {
    pub order_line_id: String,
    pub order_line_version: i32,
    pub ticket_distribution_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionAdded {
    pub ticket_distribution_id: Uuid,
    pub status: TicketDistributionStatus,
    #[serde(with = "timestamp")]
    pub start_of_validity: DateTime<Utc>,
    #[serde(with = "timestamp")]
    pub end_of_validity: DateTime<Utc>,
    pub fare_product_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionDistributed {
    pub ticket_distribution_id: Uuid,
    pub status: TicketDistributionStatus,
    pub nod_order_group_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionPickedUp {
    pub ticket_distribution_id: Uuid,
    pub status: TicketDistributionStatus,
    pub media_serial_number_id: Option<String>,
}

/// The shape of the payload records that carry nothing but the new status: Activated,
/// Expired and CancelledExternally are separate records in the schema with these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionStatusChange {
    pub ticket_distribution_id: Uuid,
    pub status: TicketDistributionStatus,
}

pub type TicketDistributionActivated = TicketDistributionStatusChange;
pub type TicketDistributionExpired = TicketDistributionStatusChange;
pub type TicketDistributionCancelledExternally = TicketDistributionStatusChange;

/// The shape of the payload records that carry a reason: Cancelled and Failed are separate
/// records in the schema with these fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketDistributionStatusChangeWithReason {
    pub ticket_distribution_id: Uuid,
    pub status: TicketDistributionStatus,
    pub reason: String,
}

pub type TicketDistributionCancelled = TicketDistributionStatusChangeWithReason;
pub type TicketDistributionFailed = TicketDistributionStatusChangeWithReason;

impl Record for TicketDistributionGroupCreated {
    fn to_avro(&self) -> Value {
        avro::record([
            ("orderLineId", avro::string(&self.order_line_id)),
            ("orderLineVersion", Value::Int(self.order_line_version)),
            (
                "ticketDistributionIds",
                avro::uuids(&self.ticket_distribution_ids),
            ),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            order_line_id: f.string("orderLineId")?,
            order_line_version: f.int("orderLineVersion")?,
            ticket_distribution_ids: f.uuids("ticketDistributionIds")?,
        })
    }
}

impl Record for TicketDistributionAdded {
    fn to_avro(&self) -> Value {
        avro::record([
            (
                "ticketDistributionId",
                avro::uuid(&self.ticket_distribution_id),
            ),
            ("status", avro::string(self.status.as_str())),
            ("startOfValidity", avro::timestamp(&self.start_of_validity)),
            ("endOfValidity", avro::timestamp(&self.end_of_validity)),
            ("fareProductRef", avro::string(&self.fare_product_ref)),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            ticket_distribution_id: f.uuid("ticketDistributionId")?,
            status: f.symbol("status")?,
            start_of_validity: f.timestamp("startOfValidity")?,
            end_of_validity: f.timestamp("endOfValidity")?,
            fare_product_ref: f.string("fareProductRef")?,
        })
    }
}

impl Record for TicketDistributionDistributed {
    fn to_avro(&self) -> Value {
        avro::record([
            (
                "ticketDistributionId",
                avro::uuid(&self.ticket_distribution_id),
            ),
            ("status", avro::string(self.status.as_str())),
            ("nodOrderGroupId", avro::string(&self.nod_order_group_id)),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            ticket_distribution_id: f.uuid("ticketDistributionId")?,
            status: f.symbol("status")?,
            nod_order_group_id: f.string("nodOrderGroupId")?,
        })
    }
}

impl Record for TicketDistributionPickedUp {
    fn to_avro(&self) -> Value {
        avro::record([
            (
                "ticketDistributionId",
                avro::uuid(&self.ticket_distribution_id),
            ),
            ("status", avro::string(self.status.as_str())),
            (
                "mediaSerialNumberId",
                avro::optional(self.media_serial_number_id.as_deref(), avro::string),
            ),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            ticket_distribution_id: f.uuid("ticketDistributionId")?,
            status: f.symbol("status")?,
            media_serial_number_id: f.optional_string("mediaSerialNumberId")?,
        })
    }
}

impl Record for TicketDistributionStatusChange {
    fn to_avro(&self) -> Value {
        avro::record([
            (
                "ticketDistributionId",
                avro::uuid(&self.ticket_distribution_id),
            ),
            ("status", avro::string(self.status.as_str())),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            ticket_distribution_id: f.uuid("ticketDistributionId")?,
            status: f.symbol("status")?,
        })
    }
}

impl Record for TicketDistributionStatusChangeWithReason {
    fn to_avro(&self) -> Value {
        avro::record([
            (
                "ticketDistributionId",
                avro::uuid(&self.ticket_distribution_id),
            ),
            ("status", avro::string(self.status.as_str())),
            ("reason", avro::string(&self.reason)),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self, EventError> {
        Ok(Self {
            ticket_distribution_id: f.uuid("ticketDistributionId")?,
            status: f.symbol("status")?,
            reason: f.string("reason")?,
        })
    }
}

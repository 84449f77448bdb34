//! `AllTicketDistributionGroupsForOrderVersionCompletedEvent`
//! (schemas/AllTicketDistributionGroupsForOrderVersionCompletedEvent.avsc): an order version
//! reached a milestone; emitted once per version and type.

use crate::avro::{self, Fields, Record};
use crate::header::EventHeader;
use crate::symbols::symbol_enum;
use crate::timestamp;
use crate::EventError;
use apache_avro::types::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

symbol_enum! {
    /// Which milestone the order version reached.
    pub enum AllTicketDistributionGroupsForOrderVersionCompletedEventType {
        /// Every group of the version exists.
        Generated => "AllTicketDistributionGroupsForOrderVersionGenerated",
        /// Every ticket distribution of the version is DISTRIBUTED or further.
        Distributed => "AllTicketDistributionGroupsForOrderVersionDistributed",
    }
}

/// The record, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllTicketDistributionGroupsForOrderVersionCompletedEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: AllTicketDistributionGroupsForOrderVersionCompletedEventType,
    pub correlation_id: Option<String>,
    #[serde(with = "timestamp")]
    pub timestamp: DateTime<Utc>,
    pub organisation_id: i64,
    pub order_id: String,
    pub order_version: i32,
    pub ticket_distribution_group_ids: Vec<Uuid>,
}

impl AllTicketDistributionGroupsForOrderVersionCompletedEvent {
    pub(crate) const RECORD: &'static str =
        "AllTicketDistributionGroupsForOrderVersionCompletedEvent";

    /// The version (of `header`) reached `event_type`; `groups` are all of its groups.
    pub fn new(
        header: &EventHeader,
        event_type: AllTicketDistributionGroupsForOrderVersionCompletedEventType,
        groups: Vec<Uuid>,
    ) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            correlation_id: header.correlation_id.clone(),
            timestamp: header.timestamp,
            organisation_id: header.organisation_id,
            order_id: header.order_id.clone(),
            order_version: header.order_version,
            ticket_distribution_group_ids: groups,
        }
    }
}

impl Record for AllTicketDistributionGroupsForOrderVersionCompletedEvent {
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
                "ticketDistributionGroupIds",
                avro::uuids(&self.ticket_distribution_group_ids),
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
            ticket_distribution_group_ids: f.uuids("ticketDistributionGroupIds")?,
        })
    }
}

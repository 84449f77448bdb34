//! The Avro format of the lifecycle events this service publishes on Kafka (CONTRACT.md
//! section 4) and the names of their topics. The `.avsc` files under `schemas/` are the only
//! definition of that format: this crate embeds them, mirrors them field for field in a
//! typed model with one constructor per event type (which refuses values the schema cannot
//! hold), serialises that model as the outbox's readable JSON, and writes and reads Avro
//! single-object encoding (`C3 01`, the schema's CRC-64-AVRO fingerprint, the binary datum)
//! through apache-avro. It must not do I/O, know about Kafka or the database, or depend on
//! `td-store` (the store depends on it); it must not encode Avro by hand, and a schema
//! change must stay readable by consumers holding a released schema (tests/compatibility.rs).

mod avro;
mod codec;
mod error;
mod group;
mod header;
mod order_version;
mod symbols;
mod timestamp;
mod topic;

pub use apache_avro::Schema;
pub use error::EventError;
pub use group::{
    TicketDistributionActivated, TicketDistributionAdded, TicketDistributionCancelled,
    TicketDistributionCancelledExternally, TicketDistributionDistributed,
    TicketDistributionExpired, TicketDistributionFailed, TicketDistributionGroupCreated,
    TicketDistributionGroupEvent, TicketDistributionGroupEventType, TicketDistributionPickedUp,
    TicketDistributionStatus, TicketDistributionStatusChange,
    TicketDistributionStatusChangeWithReason,
};
pub use header::EventHeader;
pub use order_version::{
    AllTicketDistributionGroupsForOrderVersionCompletedEvent,
    AllTicketDistributionGroupsForOrderVersionCompletedEventType,
};
pub use symbols::UnknownSymbol;
pub use topic::{fingerprint_of, Topic, GROUP_EVENTS, ORDER_VERSION_COMPLETED};

use avro::{Fields, Record};
use serde::Serialize;

/// One event of either topic. Serializes to the outbox JSON form of its record.
// One event per message, built and moved a few times: boxing the larger variant would only
// add an allocation and make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Group(TicketDistributionGroupEvent),
    OrderVersionCompleted(AllTicketDistributionGroupsForOrderVersionCompletedEvent),
}

impl Event {
    /// Parses an outbox payload for `topic`, refusing anything the schema cannot carry and
    /// a group event whose set payload field is not the one its `type` names.
    pub fn from_json(topic: Topic, payload: &serde_json::Value) -> Result<Self, EventError> {
        match topic {
            Topic::GroupEvents => {
                let event: TicketDistributionGroupEvent =
                    parse_json(TicketDistributionGroupEvent::RECORD, payload)?;
                event.check()?;
                Ok(Self::Group(event))
            }
            Topic::OrderVersionCompleted => Ok(Self::OrderVersionCompleted(parse_json(
                AllTicketDistributionGroupsForOrderVersionCompletedEvent::RECORD,
                payload,
            )?)),
        }
    }

    pub fn event_id(&self) -> uuid::Uuid {
        match self {
            Self::Group(event) => event.event_id,
            Self::OrderVersionCompleted(event) => event.event_id,
        }
    }

    /// The record's `type` symbol.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Group(event) => event.event_type.as_str(),
            Self::OrderVersionCompleted(event) => event.event_type.as_str(),
        }
    }

    /// The outbox JSON form of the record.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }

    pub fn topic(&self) -> Topic {
        match self {
            Self::Group(_) => Topic::GroupEvents,
            Self::OrderVersionCompleted(_) => Topic::OrderVersionCompleted,
        }
    }

    /// Avro single-object encoding with the topic's current schema.
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        match self {
            Self::Group(event) => {
                event.check()?;
                codec::write(
                    self.topic(),
                    TicketDistributionGroupEvent::RECORD,
                    event.to_avro(),
                )
            }
            Self::OrderVersionCompleted(event) => codec::write(
                self.topic(),
                AllTicketDistributionGroupsForOrderVersionCompletedEvent::RECORD,
                event.to_avro(),
            ),
        }
    }
}

impl From<TicketDistributionGroupEvent> for Event {
    fn from(event: TicketDistributionGroupEvent) -> Self {
        Self::Group(event)
    }
}

impl From<AllTicketDistributionGroupsForOrderVersionCompletedEvent> for Event {
    fn from(event: AllTicketDistributionGroupsForOrderVersionCompletedEvent) -> Self {
        Self::OrderVersionCompleted(event)
    }
}

/// Encodes an outbox payload (the JSON form of an [`Event`]) for the topic with base name
/// `topic_base`, as Avro single-object encoding with the topic's current schema.
pub fn encode(topic_base: &str, payload: &serde_json::Value) -> Result<Vec<u8>, EventError> {
    Event::from_json(Topic::from_base(topic_base)?, payload)?.encode()
}

/// Decodes one message of the topic with base name `topic_base`: checks the marker, picks
/// the writer schema by fingerprint (the current one or a released one) and reads the datum
/// as the current schema sees it. `serde_json::to_value` of the result gives the outbox JSON.
pub fn decode(topic_base: &str, bytes: &[u8]) -> Result<Event, EventError> {
    match Topic::from_base(topic_base)? {
        topic @ Topic::GroupEvents => {
            let record = TicketDistributionGroupEvent::RECORD;
            let value = codec::read(topic, record, bytes)?;
            let event = TicketDistributionGroupEvent::from_avro(Fields::of(record.into(), value)?)?;
            event.check()?;
            Ok(Event::Group(event))
        }
        topic @ Topic::OrderVersionCompleted => {
            let record = AllTicketDistributionGroupsForOrderVersionCompletedEvent::RECORD;
            let value = codec::read(topic, record, bytes)?;
            Ok(Event::OrderVersionCompleted(
                AllTicketDistributionGroupsForOrderVersionCompletedEvent::from_avro(Fields::of(
                    record.into(),
                    value,
                )?)?,
            ))
        }
    }
}

/// The fingerprint of the current schema of the topic with base name `topic_base`, as it
/// appears in the single-object header.
pub fn fingerprint(topic_base: &str) -> Result<[u8; 8], EventError> {
    Ok(Topic::from_base(topic_base)?.fingerprint())
}

/// The current `.avsc` text of the topic with base name `topic_base`.
pub fn schema_json(topic_base: &str) -> Result<&'static str, EventError> {
    Ok(Topic::from_base(topic_base)?.schema_json())
}

fn parse_json<T: serde::de::DeserializeOwned>(
    record: &'static str,
    payload: &serde_json::Value,
) -> Result<T, EventError> {
    serde_path_to_error::deserialize(payload).map_err(|e| EventError::InvalidPayload {
        record,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

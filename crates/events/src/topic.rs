//! The two topics and their schemas, parsed once from the `.avsc` files built into the
//! crate. The topic names are defined here only; the store's outbox rows name them through
//! [`Topic::base`].

use crate::EventError;
use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use std::sync::LazyLock;

/// Base name of the topic of `TicketDistributionGroupEvent`s; the environment suffix is
/// added by whoever publishes.
pub const GROUP_EVENTS: &str = "ticket-distribution-group-events";

/// Base name of the topic of `AllTicketDistributionGroupsForOrderVersionCompletedEvent`s.
pub const ORDER_VERSION_COMPLETED: &str =
    "all-ticket-distribution-groups-for-order-version-completed";

/// A topic this service publishes, and so the schema of its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    GroupEvents,
    OrderVersionCompleted,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::GroupEvents, Topic::OrderVersionCompleted];

    pub fn from_base(topic_base: &str) -> Result<Self, EventError> {
        Self::ALL
            .into_iter()
            .find(|t| t.base() == topic_base)
            .ok_or_else(|| EventError::UnknownTopic(topic_base.to_owned()))
    }

    /// The topic name without the environment suffix.
    pub fn base(self) -> &'static str {
        match self {
            Self::GroupEvents => GROUP_EVENTS,
            Self::OrderVersionCompleted => ORDER_VERSION_COMPLETED,
        }
    }

    /// The current schema, as written in the `.avsc` file.
    pub fn schema_json(self) -> &'static str {
        match self {
            Self::GroupEvents => include_str!("../schemas/TicketDistributionGroupEvent.avsc"),
            Self::OrderVersionCompleted => include_str!(
                "../schemas/AllTicketDistributionGroupsForOrderVersionCompletedEvent.avsc"
            ),
        }
    }

    /// Every schema version released so far, oldest first. A released file is never edited;
    /// a new version is added as a new file here (see tests/compatibility.rs for the rule).
    pub fn released_schema_jsons(self) -> &'static [&'static str] {
        match self {
            Self::GroupEvents => &[include_str!(
                "../schemas/released/TicketDistributionGroupEvent.v1.avsc"
            )],
            Self::OrderVersionCompleted => &[include_str!(
                "../schemas/released/AllTicketDistributionGroupsForOrderVersionCompletedEvent.v1.avsc"
            )],
        }
    }

    /// The current schema, parsed.
    pub fn schema(self) -> &'static Schema {
        &self.schemas().current
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the current schema's canonical form, in the
    /// byte order it has in a single-object header.
    pub fn fingerprint(self) -> [u8; 8] {
        self.schemas().fingerprint
    }

    pub(crate) fn schemas(self) -> &'static Schemas {
        static GROUP_EVENTS: LazyLock<Schemas> =
            LazyLock::new(|| Schemas::load(Topic::GroupEvents));
        static ORDER_VERSION_COMPLETED: LazyLock<Schemas> =
            LazyLock::new(|| Schemas::load(Topic::OrderVersionCompleted));
        match self {
            Self::GroupEvents => &GROUP_EVENTS,
            Self::OrderVersionCompleted => &ORDER_VERSION_COMPLETED,
        }
    }
}

pub(crate) struct Schemas {
    pub(crate) current: Schema,
    pub(crate) fingerprint: [u8; 8],
    /// The schemas a message on the topic may have been written with: the current one and
    /// every released one, one entry per fingerprint.
    writers: Vec<([u8; 8], Schema)>,
}

impl Schemas {
    /// The files are part of the binary and parsed by every test run, so a parse failure
    /// here is a bug in this crate, not a runtime condition.
    fn load(topic: Topic) -> Self {
        let parse = |json: &str| {
            Schema::parse_str(json).unwrap_or_else(|e| {
                panic!(
                    "embedded schema of `{}` is not valid Avro: {e}",
                    topic.base()
                )
            })
        };
        let current = parse(topic.schema_json());
        let fingerprint = fingerprint_of(&current);
        let mut writers = vec![(fingerprint, current.clone())];
        for json in topic.released_schema_jsons() {
            let schema = parse(json);
            let fp = fingerprint_of(&schema);
            if writers.iter().all(|(known, _)| *known != fp) {
                writers.push((fp, schema));
            }
        }
        Self {
            current,
            fingerprint,
            writers,
        }
    }

    pub(crate) fn writer(&self, fingerprint: [u8; 8]) -> Option<&Schema> {
        self.writers
            .iter()
            .find(|(fp, _)| *fp == fingerprint)
            .map(|(_, schema)| schema)
    }
}

/// The CRC-64-AVRO fingerprint, little-endian as the single-object header carries it.
pub fn fingerprint_of(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut out = [0; 8];
    out.copy_from_slice(&bytes);
    out
}

//! Where messages go: Kafka in production, an in-process bus that also appends every
//! message as one JSON line to a file in the embedded default. Both sit behind
//! `MessageSink`, and one contract suite runs against both. This crate moves bytes; it
//! does not know what an event means or how it is encoded.

mod file;
mod kafka;
mod settings;

pub use file::FileSink;
pub use kafka::{client_config, KafkaSink};
pub use settings::{KafkaSettings, SecurityProtocol, DEFAULT_MESSAGE_MAX_BYTES};

use futures::future::BoxFuture;

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The full topic name, environment suffix included.
    pub topic: String,
    /// Kafka message key: the order id, so that an order's messages keep their order.
    pub key: String,
    pub payload: Vec<u8>,
    /// Distinct header names (some brokers refuse repeated names).
    pub headers: Vec<(String, String)>,
    /// A readable form of the payload for sinks meant for people (the embedded event log).
    pub readable: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Transient: the broker is unreachable or slow; the same batch may succeed later.
    #[error("kafka: {0}")]
    Kafka(String),
    /// Permanent for one message: the broker (or the producer, before sending) refuses the
    /// message at `index` of the batch for what it is, e.g. larger than it accepts, so
    /// publishing it again can never succeed. Messages before it may have been delivered.
    #[error("kafka refused message {index} of the batch: {reason}")]
    Rejected { index: usize, reason: String },
    #[error("writing the event log: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// Publishes batches of messages. A batch either is accepted whole (every message
/// acknowledged, in order per key) or fails; a failed batch may have been partly
/// delivered, so callers retry it and consumers de-duplicate on the event id.
pub trait MessageSink: Send + Sync {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>>;
}

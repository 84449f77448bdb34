//! The `kafka` section of the settings: how every Kafka client of the project connects.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub security_protocol: SecurityProtocol,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<SecretString>,
    pub consumer_group: String,
    /// Extra librdkafka properties for producers and consumers. Environment variables
    /// cannot hold dots, so `TD__KAFKA__PRODUCER__BATCH_NUM_MESSAGES=1` means
    /// `batch.num.messages=1`; see `KafkaSettings::producer_properties`.
    pub producer: BTreeMap<String, String>,
    pub consumer: BTreeMap<String, String>,
}

/// librdkafka's `security.protocol`, in its lower or upper case spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[serde(alias = "PLAINTEXT")]
    Plaintext,
    #[serde(alias = "SSL")]
    Ssl,
    #[serde(alias = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(alias = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The value librdkafka takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }
}

/// librdkafka's default `message.max.bytes`.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

impl KafkaSettings {
    /// The largest message the producer accepts (key, payload and headers): the producer's
    /// `message.max.bytes` if set, else librdkafka's default. `Err` names what is wrong with
    /// a value that is set.
    pub fn producer_message_max_bytes(&self) -> Result<usize, String> {
        match self
            .producer_properties()
            .into_iter()
            .find(|(k, _)| k == "message.max.bytes")
        {
            None => Ok(DEFAULT_MESSAGE_MAX_BYTES),
            Some((_, v)) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("`{v}` is not a positive number of bytes")),
            },
        }
    }

    pub fn producer_properties(&self) -> Vec<(String, String)> {
        librdkafka_names(&self.producer)
    }

    pub fn consumer_properties(&self) -> Vec<(String, String)> {
        librdkafka_names(&self.consumer)
    }
}

fn librdkafka_names(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.replace('_', "."), v.clone()))
        .collect()
}

use crate::KafkaSettings;
use crate::{BusError, Message, MessageSink};
use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use secrecy::ExposeSecret;
use std::time::Duration;

/// The connection settings every Kafka client shares, plus `extra` properties.
pub fn client_config(settings: &KafkaSettings, extra: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("security.protocol", settings.security_protocol.as_str());
    if let Some(mechanism) = &settings.sasl_mechanism {
        config.set("sasl.mechanism", mechanism);
    }
    if let Some(username) = &settings.sasl_username {
        config.set("sasl.username", username);
    }
    if let Some(password) = &settings.sasl_password {
        config.set("sasl.password", password.expose_secret());
    }
    for (k, v) in extra {
        config.set(k, v);
    }
    config
}

/// An idempotent Kafka producer: retries inside librdkafka never duplicate or reorder
/// messages of one partition, and one key always maps to one partition.
pub struct KafkaSink {
    producer: FutureProducer,
    timeout: Duration,
}

impl KafkaSink {
    pub fn new(settings: &KafkaSettings) -> Result<Self, BusError> {
        let mut config = client_config(settings, &[]);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "15000");
        // Settings come last so that an operator can tune anything above.
        for (k, v) in settings.producer_properties() {
            config.set(k, v);
        }
        let producer: FutureProducer = config
            .create()
            .map_err(|e| BusError::Config(format!("creating the Kafka producer: {e}")))?;
        Ok(Self {
            producer,
            timeout: Duration::from_secs(20),
        })
    }

    /// Sends what is queued; called at shutdown.
    pub fn flush(&self, timeout: Duration) {
        if let Err(err) = self.producer.flush(Timeout::After(timeout)) {
            tracing::warn!(error = %err, "Kafka producer did not flush before shutdown");
        }
    }
}

impl MessageSink for KafkaSink {
    fn publish<'a>(&'a self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            // Enqueue the whole batch first (librdkafka keeps enqueue order per partition),
            // then wait for every acknowledgement.
            let mut deliveries = Vec::with_capacity(batch.len());
            for m in batch {
                let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
                for (name, value) in &m.headers {
                    headers = headers.insert(Header {
                        key: name,
                        value: Some(value.as_bytes()),
                    });
                }
                let record = FutureRecord::to(&m.topic)
                    .key(&m.key)
                    .payload(&m.payload)
                    .headers(headers);
                match self.producer.send_result(record) {
                    Ok(delivery) => deliveries.push(delivery),
                    Err((err, _)) => return Err(classify(deliveries.len(), &err)),
                }
            }
            for (index, delivery) in deliveries.into_iter().enumerate() {
                match tokio::time::timeout(self.timeout, delivery).await {
                    Ok(Ok(Ok(_))) => {}
                    Ok(Ok(Err((err, _)))) => return Err(classify(index, &err)),
                    Ok(Err(_)) => return Err(BusError::Kafka("delivery cancelled".into())),
                    Err(_) => return Err(BusError::Kafka("delivery timed out".into())),
                }
            }
            Ok(())
        })
    }
}

/// Whether a produce error is about the message itself (so retrying it can never succeed)
/// or about the broker's reachability or state (so a retry may).
pub(crate) fn classify(index: usize, err: &KafkaError) -> BusError {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match err.rdkafka_error_code() {
        Some(
            Code::MessageSizeTooLarge
            | Code::InvalidMessageSize
            | Code::InvalidMessage
            | Code::InvalidRecord
            | Code::MessageBatchTooLarge,
        ) => BusError::Rejected {
            index,
            reason: err.to_string(),
        },
        _ => BusError::Kafka(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaErrorCode as Code;

    fn rejected(code: Code) -> bool {
        matches!(
            classify(3, &KafkaError::MessageProduction(code)),
            BusError::Rejected { index: 3, .. }
        )
    }

    #[test]
    fn a_message_the_broker_refuses_for_what_it_is_is_rejected() {
        for code in [
            Code::MessageSizeTooLarge,
            Code::InvalidMessageSize,
            Code::InvalidMessage,
            Code::InvalidRecord,
            Code::MessageBatchTooLarge,
        ] {
            assert!(rejected(code), "{code:?} is permanent");
        }
    }

    #[test]
    fn an_unreachable_or_busy_broker_is_transient() {
        for code in [
            Code::BrokerTransportFailure,
            Code::AllBrokersDown,
            Code::MessageTimedOut,
            Code::RequestTimedOut,
            Code::NotLeaderForPartition,
            Code::UnknownTopicOrPartition,
            Code::NotEnoughReplicas,
            Code::QueueFull,
        ] {
            assert!(!rejected(code), "{code:?} is transient");
        }
    }
}

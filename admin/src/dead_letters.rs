//! The order intake's dead-letter topic, read from start to end by a consumer that joins
//! no group and commits nothing, so that reading it never moves anyone's offsets.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use td_bus::KafkaSettings;

/// How long a read of the topic may take before it is given up.
const READ_WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

/// One dead letter as the intake wrote it (see `order_listener::dead_letter`).
#[derive(Debug, Clone)]
pub struct Letter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: String,
    /// `topic/partition@offset` of the event on the order topic.
    pub source: String,
    /// Set when the payload was cut to fit under the producer's limit: the event's length.
    pub truncated: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct DeadLetterTopic {
    pub kafka: KafkaSettings,
    pub topic: String,
}

impl DeadLetterTopic {
    fn consumer(&self) -> anyhow::Result<BaseConsumer> {
        let mut config = td_bus::client_config(
            &self.kafka,
            &[
                // Required by librdkafka; nothing joins it (partitions are assigned) and
                // nothing is committed.
                ("group.id".into(), "td-admin".into()),
                ("enable.auto.commit".into(), "false".into()),
                ("enable.auto.offset.store".into(), "false".into()),
            ],
        );
        for (k, v) in self.kafka.consumer_properties() {
            // The workers' group membership settings do not apply to a reader that joins
            // no group.
            if k != "group.instance.id" {
                config.set(k, v);
            }
        }
        config
            .create()
            .context("creating a Kafka consumer for the dead-letter topic")
    }

    /// Every letter on the topic, by partition and offset. An absent topic holds none.
    pub fn read_all(&self) -> anyhow::Result<Vec<Letter>> {
        let consumer = self.consumer()?;
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), READ_WITHIN)
            .with_context(|| format!("reading the metadata of {}", self.topic))?;
        let Some(topic) = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic && t.error().is_none())
        else {
            return Ok(Vec::new());
        };
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, partition.id(), READ_WITHIN)
                .with_context(|| format!("reading the offsets of {}", self.topic))?;
            if high > low {
                assignment.add_partition_offset(
                    &self.topic,
                    partition.id(),
                    Offset::Offset(low),
                )?;
                ends.insert(partition.id(), high);
            }
        }
        let mut letters = Vec::new();
        if ends.is_empty() {
            return Ok(letters);
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + READ_WITHIN;
        while !ends.is_empty() {
            if Instant::now() > deadline {
                bail!(
                    "reading {} did not reach its end within {READ_WITHIN:?}",
                    self.topic
                );
            }
            let Some(message) = consumer.poll(POLL) else {
                continue;
            };
            let message = message.with_context(|| format!("reading {}", self.topic))?;
            let partition = message.partition();
            if ends
                .get(&partition)
                .is_some_and(|end| message.offset() + 1 >= *end)
            {
                ends.remove(&partition);
            }
            letters.push(letter_of(&message));
        }
        letters.sort_by_key(|l| (l.at, l.partition, l.offset));
        Ok(letters)
    }

    /// The letter at `partition`/`offset`, if the topic holds it.
    pub fn read_one(&self, partition: i32, offset: i64) -> anyhow::Result<Option<Letter>> {
        let consumer = self.consumer()?;
        let (low, high) = match consumer.fetch_watermarks(&self.topic, partition, READ_WITHIN) {
            Ok(marks) => marks,
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "reading the offsets of {} partition {partition}",
                        self.topic
                    )
                })
            }
        };
        if offset < low || offset >= high {
            return Ok(None);
        }
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + READ_WITHIN;
        while Instant::now() < deadline {
            if let Some(message) = consumer.poll(POLL) {
                let message = message.with_context(|| format!("reading {}", self.topic))?;
                if message.offset() == offset {
                    return Ok(Some(letter_of(&message)));
                }
                if message.offset() > offset {
                    return Ok(None);
                }
            }
        }
        bail!(
            "reading {} partition {partition} offset {offset} timed out",
            self.topic
        )
    }
}

fn letter_of(message: &rdkafka::message::BorrowedMessage<'_>) -> Letter {
    let mut headers = HashMap::new();
    if let Some(all) = message.headers() {
        for header in all.iter() {
            let value = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            headers.insert(header.key.to_owned(), value);
        }
    }
    let at = message
        .timestamp()
        .to_millis()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    Letter {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        reason: headers.remove("reason").unwrap_or_default(),
        source: headers.remove("source").unwrap_or_default(),
        truncated: headers.remove("truncated"),
        at,
    }
}

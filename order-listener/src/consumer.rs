//! The Kafka consumer of `order-events-<env>`. Auto-commit is off: messages are taken in
//! batches bounded in count and bytes (`crate::batch`), each batch is processed (one lane per order key, lanes in parallel,
//! an order's events in order), and only then are the batch's offsets committed. A crash
//! before the commit redelivers the batch, which the intake's idempotence makes harmless.

use crate::batch::{BatchBounds, BatchFill};
use crate::intake::{Incoming, Intake};
use futures::future::join_all;
use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Statistics};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use td_settings::Settings;
use tokio_util::sync::CancellationToken;

/// How long a batch waits to fill once it has its first message.
const LINGER: Duration = Duration::from_millis(5);
/// Lanes processed in parallel, each in one transaction; bounded by the database pool.
const LANES: usize = 16;

/// Publishes librdkafka's statistics of the consumer: its lag per partition.
pub struct LagMetrics;

impl ClientContext for LagMetrics {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a lag of -1 is unknown.
                if partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "td_kafka_consumer_lag",
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for LagMetrics {}

/// The order-event consumer.
pub type OrderConsumer = StreamConsumer<LagMetrics>;

pub fn create(settings: &Settings) -> anyhow::Result<OrderConsumer> {
    let mut config = td_bus::client_config(
        &settings.kafka,
        &[
            ("group.id".into(), settings.kafka.consumer_group.clone()),
            ("enable.auto.commit".into(), "false".into()),
            ("auto.offset.reset".into(), "earliest".into()),
            // Bound what librdkafka prefetches, so a slow database cannot make us buffer
            // without limit.
            ("queued.max.messages.kbytes".into(), "16384".into()),
            // Lag per partition for the metrics.
            ("statistics.interval.ms".into(), "5000".into()),
        ],
    );
    for (k, v) in settings.kafka.consumer_properties() {
        config.set(k, v);
    }
    let consumer: OrderConsumer = config
        .create_with_context(LagMetrics)
        .map_err(|e| anyhow::anyhow!("creating the Kafka consumer: {e}"))?;
    let topic = settings.topic("order-events");
    consumer
        .subscribe(&[&topic])
        .map_err(|e| anyhow::anyhow!("subscribing to {topic}: {e}"))?;
    Ok(consumer)
}

fn traceparent(m: &BorrowedMessage<'_>) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == "traceparent")
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn lane_of(key: Option<&[u8]>) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % LANES as u64) as usize
}

/// What a message weighs in a batch: key, payload and headers.
fn size_of(m: &BorrowedMessage<'_>) -> usize {
    let headers: usize = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
                .sum()
        })
        .unwrap_or(0);
    m.key_len() + m.payload_len() + headers
}

/// Consumes until shutdown. Returns after committing what was processed.
pub async fn run(
    consumer: OrderConsumer,
    intake: Arc<Intake>,
    bounds: BatchBounds,
    shutdown: CancellationToken,
) {
    // A message taken that did not fit the last batch opens the next one.
    let mut carried: Option<BorrowedMessage<'_>> = None;
    loop {
        let first = match carried.take() {
            Some(m) => m,
            None => {
                let first = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    m = consumer.recv() => m,
                };
                match first {
                    Ok(m) => m,
                    Err(err) => {
                        tracing::warn!(error = %err, "Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
        };
        let mut fill = BatchFill::new(bounds);
        fill.offer(size_of(&first));
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while !fill.is_full() {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => {
                    if fill.offer(size_of(&m)) {
                        batch.push(m);
                    } else {
                        carried = Some(m);
                        break;
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "Kafka consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        if !process_batch(&intake, &batch, &shutdown).await {
            // Shutdown interrupted a retry: leave the batch uncommitted for redelivery.
            break;
        }
        commit(&consumer, &batch);
    }
    if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %err, "nothing to commit at shutdown");
    }
}

/// Processes a batch; false when shutdown stopped it before every message was consumed.
async fn process_batch(
    intake: &Intake,
    batch: &[BorrowedMessage<'_>],
    shutdown: &CancellationToken,
) -> bool {
    let mut lanes: Vec<Vec<&BorrowedMessage<'_>>> = vec![Vec::new(); LANES];
    for m in batch {
        lanes[lane_of(m.key())].push(m);
    }
    let results = join_all(
        lanes
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|lane| process_with_retry(intake, lane, shutdown)),
    )
    .await;
    results.into_iter().all(|ok| ok)
}

/// Records a lane's messages (in order, one transaction), retrying with backoff while the
/// database or broker fails; false when shutdown interrupted the retries.
async fn process_with_retry(
    intake: &Intake,
    lane: Vec<&BorrowedMessage<'_>>,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        let incoming: Vec<Incoming<'_>> = lane
            .iter()
            .map(|m| Incoming {
                key: m.key(),
                payload: m.payload(),
                traceparent: traceparent(m),
                source: format!("{}/{}@{}", m.topic(), m.partition(), m.offset()),
            })
            .collect();
        match intake.process_all(&incoming).await {
            Ok(_) => return true,
            Err(err) => {
                let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
                let wait = backoff + Duration::from_millis(jitter);
                tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "order events not recorded; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn commit(consumer: &OrderConsumer, batch: &[BorrowedMessage<'_>]) {
    let mut next: HashMap<(String, i32), i64> = HashMap::new();
    for m in batch {
        let entry = next
            .entry((m.topic().to_owned(), m.partition()))
            .or_insert(0);
        *entry = (*entry).max(m.offset() + 1);
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        if let Err(err) = list.add_partition_offset(&topic, partition, Offset::Offset(offset)) {
            tracing::error!(error = %err, "building the offset commit");
            return;
        }
    }
    if let Err(err) = consumer.commit(&list, CommitMode::Async) {
        // The batch is recorded; a lost commit only means a harmless redelivery.
        tracing::warn!(error = %err, "committing offsets failed");
    }
}

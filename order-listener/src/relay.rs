//! The outbox relay: publishes outbox events in id order (per order, commit order) and
//! marks them published, in one database transaction per batch.
//!
//! Two replicas never publish at once: on PostgreSQL each batch first takes a
//! transaction-scoped advisory lock, and a replica that cannot get it waits. So an order's
//! events are neither duplicated nor reordered by a second relay. A crash after the
//! broker acknowledged a batch but before the commit republishes that batch: consumers
//! de-duplicate on `eventId` (the broker in use has no transactions to do better).
//!
//! A failure is either transient (database or broker unreachable: the batch is retried
//! with backoff, nothing skipped) or permanent for one event (its payload cannot be
//! encoded, or the broker refuses the message for what it is, e.g. too large). Such an
//! event is parked in the outbox with its reason, counted in `td_quarantined_total` and
//! logged once, and the relay goes on at once; the order's later events wait behind it.
//! A message the broker refuses only at delivery may have later messages of its order in
//! the same batch already delivered; one the producer refuses before sending has not.

use rand::Rng;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use td_bus::{Message, MessageSink};
use td_store::entity::outbox as row;
use td_store::{outbox, DatabaseConnection};
use tokio_util::sync::CancellationToken;

const RELAY_LOCK: i64 = 7_346_022;
/// How often the backlog is counted for the metrics.
const BACKLOG_SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] td_store::DbErr),
    #[error("database: {0}")]
    Store(#[from] td_store::StoreError),
    #[error("outbox event {id} cannot be encoded: {reason}")]
    Encode { id: i64, reason: String },
    #[error("publishing: {0}")]
    Publish(#[from] td_bus::BusError),
}

pub struct Relay {
    db: DatabaseConnection,
    sink: Arc<dyn MessageSink>,
    environment: String,
    batch: u64,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Published(usize),
    /// This many events were parked (nothing was published); the next step goes on.
    Parked(usize),
    /// Another replica holds the relay lock.
    NotLeader,
}

impl Relay {
    pub fn new(db: DatabaseConnection, sink: Arc<dyn MessageSink>, environment: String) -> Self {
        Self {
            db,
            sink,
            environment,
            batch: 500,
        }
    }

    fn message(&self, event: &row::Model) -> Result<Message, RelayError> {
        let payload =
            td_events::encode(&event.topic, &event.payload).map_err(|e| RelayError::Encode {
                id: event.id,
                reason: e.to_string(),
            })?;
        let mut headers = vec![("eventType".to_owned(), event.event_type.clone())];
        if let Some(tp) = &event.traceparent {
            headers.push(("traceparent".to_owned(), tp.clone()));
        }
        Ok(Message {
            topic: format!("{}-{}", event.topic, self.environment),
            key: event.message_key.clone(),
            payload,
            headers,
            readable: Some(event.payload.clone()),
        })
    }

    /// Publishes the next batch of unpublished events.
    pub async fn step(&self) -> Result<Step, RelayError> {
        let Some(txn) = td_store::begin_exclusive(&self.db, RELAY_LOCK).await? else {
            return Ok(Step::NotLeader);
        };
        let events = outbox::unpublished(&txn, self.batch).await?;
        if events.is_empty() {
            return Ok(Step::Published(0));
        }
        let mut messages = Vec::with_capacity(events.len());
        let mut unencodable = Vec::new();
        // Only an order's first failing event is parked; its later ones wait behind it.
        let mut blocked = HashSet::new();
        for event in &events {
            match self.message(event) {
                Ok(message) => messages.push(message),
                Err(err) => {
                    if blocked.insert(event.message_key.as_str()) {
                        unencodable.push((event, err.to_string()));
                    }
                }
            }
        }
        if !unencodable.is_empty() {
            // Parked and committed before anything is published, so that the parking
            // holds (and is logged once) even while the broker is down.
            for (event, reason) in &unencodable {
                outbox::park(&txn, event.id, reason, chrono::Utc::now()).await?;
            }
            txn.commit().await?;
            for (event, reason) in &unencodable {
                quarantined(event, "encode", reason);
            }
            return Ok(Step::Parked(unencodable.len()));
        }
        match self.sink.publish(&messages).await {
            Ok(()) => {}
            Err(td_bus::BusError::Rejected { index, reason }) if index < events.len() => {
                let event = &events[index];
                outbox::park(&txn, event.id, &reason, chrono::Utc::now()).await?;
                txn.commit().await?;
                quarantined(event, "rejected", &reason);
                return Ok(Step::Parked(1));
            }
            Err(err) => return Err(err.into()),
        }
        metrics::counter!("td_outbox_published_total").increment(messages.len() as u64);
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        outbox::mark_published(&txn, &ids, chrono::Utc::now()).await?;
        txn.commit().await?;
        Ok(Step::Published(events.len()))
    }

    /// Publishes the outbox backlog and the age of its oldest event as gauges.
    async fn sample_backlog(&self) {
        let sampled = async {
            let count = outbox::backlog(&self.db).await?;
            let oldest = outbox::oldest_unpublished_at(&self.db).await?;
            Ok::<_, td_store::StoreError>((count, oldest))
        };
        match sampled.await {
            Ok((count, oldest)) => {
                let age = oldest
                    .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("td_outbox_backlog").set(count as f64);
                metrics::gauge!("td_outbox_oldest_age_seconds").set(age);
            }
            Err(err) => tracing::debug!(error = %err, "reading the outbox backlog failed"),
        }
    }

    /// Relays until shutdown: immediately while there is a backlog, every `idle` otherwise,
    /// with exponential backoff and jitter while the broker or database fails.
    pub async fn run(self, idle: Duration, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut sampled: Option<tokio::time::Instant> = None;
        loop {
            if sampled.is_none_or(|at| at.elapsed() >= BACKLOG_SAMPLE_EVERY) {
                sampled = Some(tokio::time::Instant::now());
                self.sample_backlog().await;
            }
            let wait = match self.step().await {
                Ok(Step::Published(n)) if n as u64 == self.batch => Duration::ZERO,
                Ok(Step::Parked(_)) => Duration::ZERO,
                Ok(Step::Published(_)) => {
                    backoff = Duration::from_millis(100);
                    idle
                }
                Ok(Step::NotLeader) => idle * 10,
                Err(err) => {
                    let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
                    let wait = backoff + Duration::from_millis(jitter);
                    tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "outbox relay failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Reports one parked event: once, at error level, and in `td_quarantined_total`.
fn quarantined(event: &row::Model, reason_kind: &'static str, reason: &str) {
    metrics::counter!("td_quarantined_total", "stage" => "outbox", "reason" => reason_kind)
        .increment(1);
    tracing::error!(
        outbox_id = event.id,
        event_id = %event.event_id,
        order_id = %event.message_key,
        reason,
        "outbox event parked: it can never be published; the order's later events wait behind it"
    );
}

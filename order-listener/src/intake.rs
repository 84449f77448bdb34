//! One order event in: parse and validate it within the configured limits, then record it
//! and everything its version calls for in one transaction; or, when it cannot be used, put
//! it on the dead-letter topic with the reason. Shared by the Kafka consumer and the
//! embedded default's intake.

use crate::dead_letter::{self, DeadLetter};
use chrono::Utc;
use std::sync::Arc;
use td_bus::MessageSink;
use td_domain::Limits;
use td_store::record::{record_order_event, Origin, RecordOutcome};
use td_store::{DatabaseConnection, TransactionTrait};
use tracing::Instrument;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    Recorded(RecordOutcome),
    /// Unusable; published to the dead-letter topic with `reason`.
    DeadLettered {
        reason: String,
    },
}

/// A failure worth retrying (database or broker unavailable). The event is not consumed.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("recording the order failed: {0}")]
    Store(#[from] td_store::StoreError),
    #[error("recording the order failed: {0}")]
    Db(#[from] td_store::DbErr),
    #[error("publishing to the dead-letter topic failed: {0}")]
    DeadLetter(#[from] td_bus::BusError),
}

/// The incoming message as the intake needs it.
#[derive(Debug, Clone, Default)]
pub struct Incoming<'a> {
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub traceparent: Option<String>,
    /// Where it came from, for the dead-letter headers (`topic/partition@offset`).
    pub source: String,
}

pub struct Intake {
    db: DatabaseConnection,
    dead_letters: Arc<dyn MessageSink>,
    dlq_topic: String,
    limits: Limits,
    dead_letter_max_bytes: usize,
}

impl Intake {
    /// `limits` are the settings' `intake` section.
    pub fn new(
        db: DatabaseConnection,
        dead_letters: Arc<dyn MessageSink>,
        dlq_topic: String,
        limits: Limits,
    ) -> Self {
        Self {
            db,
            dead_letters,
            dlq_topic,
            limits,
            dead_letter_max_bytes: td_bus::DEFAULT_MESSAGE_MAX_BYTES,
        }
    }

    /// The largest dead letter the sink accepts (the producer's `message.max.bytes`); a
    /// larger one is cut to fit. librdkafka's default unless set.
    pub fn with_dead_letter_max_bytes(mut self, max_bytes: usize) -> Self {
        self.dead_letter_max_bytes = max_bytes;
        self
    }

    /// Processes one event. `Ok` means the event is consumed (recorded, ignored as already
    /// recorded, or dead-lettered) and its offset may be committed.
    pub async fn process(&self, incoming: Incoming<'_>) -> Result<IntakeOutcome, IntakeError> {
        let mut outcomes = self.process_all(std::slice::from_ref(&incoming)).await?;
        Ok(outcomes.remove(0))
    }

    /// Processes events in order, recording the usable ones in one transaction (one commit
    /// for many orders is what makes a backlog drain fast). `Ok` means every event is
    /// consumed; on `Err` nothing was recorded and the whole run may be retried (an event
    /// dead-lettered meanwhile is then dead-lettered again).
    pub async fn process_all(
        &self,
        incoming: &[Incoming<'_>],
    ) -> Result<Vec<IntakeOutcome>, IntakeError> {
        let mut outcomes = Vec::with_capacity(incoming.len());
        let mut logged = Vec::new();
        let txn = self.db.begin().await?;
        for message in incoming {
            let event = match usable(message, &self.limits) {
                Ok(event) => event,
                Err(reason) => {
                    outcomes.push(self.dead_letter(message, "invalid", reason).await?);
                    continue;
                }
            };
            // The event's span continues the producer's trace; what the event starts
            // (NOD jobs, lifecycle events) continues the span's.
            let span = tracing::info_span!(
                "order.event",
                otel.kind = "consumer",
                order_id = %event.order.id,
                order_version = event.order.version,
                correlation_id = event.correlation_id.as_deref().unwrap_or(""),
            );
            td_telemetry::propagation::follow(&span, message.traceparent.as_deref());
            let origin = Origin {
                distribution_channel: None,
                traceparent: td_telemetry::propagation::traceparent_of(&span)
                    .or_else(|| message.traceparent.clone()),
            };
            // Each event in a savepoint of its own: an event the store refuses (lifecycle
            // events the schema cannot carry, another organisation than the order's) is
            // rolled back alone, and then dead-lettered like any unusable event, instead of
            // failing the whole run.
            let savepoint = txn.begin().await?;
            let recorded = record_order_event(&savepoint, &event, &origin, Utc::now())
                .instrument(span.clone())
                .await;
            let outcome = match recorded {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    outcome
                }
                Err(td_store::StoreError::Event(refused)) => {
                    savepoint.rollback().await?;
                    let reason = format!("the order cannot be published as events: {refused}");
                    outcomes.push(self.dead_letter(message, "event", reason).await?);
                    continue;
                }
                Err(refused @ td_store::StoreError::OtherOrganisation { .. }) => {
                    savepoint.rollback().await?;
                    let reason = format!("the order cannot change organisation: {refused}");
                    outcomes.push(
                        self.dead_letter(message, "other_organisation", reason)
                            .await?,
                    );
                    continue;
                }
                // The database refuses this event's data (a value it cannot store, one
                // too large for an index): retrying can never succeed, so it is
                // dead-lettered like any unusable event.
                Err(refused @ td_store::StoreError::Corrupt(_)) => {
                    savepoint.rollback().await?;
                    let reason = format!("the order's stored state cannot be read: {refused}");
                    outcomes.push(self.dead_letter(message, "corrupt", reason).await?);
                    continue;
                }
                Err(refused) if refused.is_refused_data() => {
                    savepoint.rollback().await?;
                    let reason = format!("the database cannot store the order: {refused}");
                    outcomes.push(self.dead_letter(message, "refused_data", reason).await?);
                    continue;
                }
                Err(other) => return Err(other.into()),
            };
            logged.push((event, outcome.clone(), span));
            outcomes.push(IntakeOutcome::Recorded(outcome));
        }
        let recorded: Vec<&str> = logged
            .iter()
            .map(|(e, _, _)| e.order.id.0.as_str())
            .collect();
        td_store::notify::orders_recorded(&txn, &recorded).await?;
        txn.commit().await?;
        td_store::notify::announce_locally(&recorded);
        for (_, outcome, span) in logged {
            let label = match &outcome {
                RecordOutcome::Applied { .. } => "applied",
                RecordOutcome::AlreadyRecorded { .. } => "already_recorded",
                RecordOutcome::Draft => "draft",
            };
            metrics::counter!("td_order_events_total", "outcome" => label).increment(1);
            span.in_scope(|| tracing::info!(outcome = ?outcome, "order event processed"));
        }
        Ok(outcomes)
    }

    /// Publishes the event to the dead-letter topic; `kind` is the `reason` label of
    /// `td_quarantined_total`, `reason` the full text in the letter's `reason` header.
    async fn dead_letter(
        &self,
        incoming: &Incoming<'_>,
        kind: &'static str,
        reason: String,
    ) -> Result<IntakeOutcome, IntakeError> {
        let message = dead_letter::message(
            DeadLetter {
                topic: &self.dlq_topic,
                key: incoming.key,
                payload: incoming.payload.unwrap_or_default(),
                source: &incoming.source,
                reason: &reason,
            },
            self.dead_letter_max_bytes,
        );
        self.dead_letters
            .publish(std::slice::from_ref(&message))
            .await?;
        tracing::error!(source = %incoming.source, %reason, "order event dead-lettered");
        metrics::counter!("td_order_events_total", "outcome" => "dead_lettered").increment(1);
        metrics::counter!("td_quarantined_total", "stage" => "order-intake", "reason" => kind)
            .increment(1);
        Ok(IntakeOutcome::DeadLettered { reason })
    }
}

/// The event, or why it cannot be used. The key and the `traceparent` header are stored
/// with the order, so they are held to the limits too.
fn usable(
    incoming: &Incoming<'_>,
    limits: &Limits,
) -> Result<td_domain::order::OrderEvent, String> {
    let payload = incoming.payload.unwrap_or_default();
    let event = td_domain::parse_order_event_within(payload, limits).map_err(|e| e.to_string())?;
    if let Some(traceparent) = &incoming.traceparent {
        limits
            .check_message_value("header traceparent", traceparent)
            .map_err(|e| e.to_string())?;
    }
    if let Some(key) = incoming.key {
        limits
            .check_message_value("message key", &String::from_utf8_lossy(key))
            .map_err(|e| e.to_string())?;
        if key != event.order.id.0.as_bytes() {
            return Err(format!(
                "message key `{}` is not the order id `{}`",
                String::from_utf8_lossy(key),
                event.order.id
            ));
        }
    }
    Ok(event)
}

//! NOD jobs: the dispatcher that feeds the queue from what PostgreSQL says is due, and the
//! worker that places and cancels tickets in NOD.
//!
//! Why no job is lost: a job is only ever a reminder. What must happen is recorded in
//! PostgreSQL (a GENERATED ticket, a FAILED one asked to be placed again, a CANCELLED one
//! that NOD still has), and the dispatcher enqueues a job for each such ticket, then stamps
//! it. A crash between enqueueing and stamping enqueues it once more; a job lost in the
//! queue is enqueued again once `redispatch_after` has passed while the ticket still
//! waits. Both are harmless, because handling a job is idempotent: NOD places by
//! `clientReference` (the ticket id) and the status machine refuses a repeated transition.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use td_domain::ids::{TicketDistributionGroupId, TicketDistributionId};
use td_domain::status::{TdEvent, TdStatus};
use td_jobs::{Delivery, Job, JobQueue, RetryOutcome};
use td_nod::{Nod, NodError, Order, OrderGroupId, PlaceRequest};
use td_store::nod::{self as store, ChangeOutcome, JobKind, NodChange};
use td_store::{DatabaseConnection, TransactionTrait};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const DISPATCH_LOCK: i64 = 7_346_023;

/// Where NOD jobs go and who reads them.
#[derive(Debug, Clone)]
pub struct Streams {
    pub stream: String,
    pub group: String,
}

impl Streams {
    pub fn for_environment(environment: &str) -> Self {
        Self {
            stream: format!("nod-jobs-{environment}"),
            group: "nod-distributor".to_owned(),
        }
    }
}

/// The job for one ticket; it carries the trace context and correlation id of what called
/// for it, so the worker's span joins that trace.
fn job_for(
    kind: JobKind,
    id: TicketDistributionId,
    order_id: &str,
    traceparent: Option<String>,
    correlation_id: Option<String>,
) -> Job {
    let mut job = Job::new(
        kind.as_str(),
        json!({
            "ticketDistributionId": id.0.to_string(),
            "orderId": order_id,
            "correlationId": correlation_id,
        }),
    );
    job.traceparent = traceparent;
    job
}

/// Enqueues jobs for every due ticket, in passes. On PostgreSQL one replica dispatches at a
/// time (a transaction-scoped advisory lock), so replicas do not enqueue the same tickets.
pub struct Dispatcher {
    pub db: DatabaseConnection,
    pub queue: Arc<dyn JobQueue>,
    pub streams: Streams,
    pub redispatch_after: Duration,
    pub batch: u64,
}

impl Dispatcher {
    /// One pass; returns how many jobs were enqueued.
    pub async fn pass(&self) -> anyhow::Result<usize> {
        let txn = self.db.begin().await?;
        if !td_store::try_exclusive(&txn, DISPATCH_LOCK).await? {
            return Ok(0);
        }
        let now = chrono::Utc::now();
        let due = store::due_jobs(
            &txn,
            now,
            chrono::Duration::from_std(self.redispatch_after)?,
            self.batch,
        )
        .await?;
        let jobs: Vec<_> = due
            .iter()
            .map(|job| {
                (
                    job.ticket_distribution_id,
                    job_for(
                        job.kind,
                        job.ticket_distribution_id,
                        &job.order_id.0,
                        job.traceparent.clone(),
                        job.correlation_id.clone(),
                    ),
                )
            })
            .collect();
        let enqueued = td_jobs::enqueue_all(self.queue.as_ref(), &self.streams.stream, jobs).await;
        store::mark_enqueued(&txn, &enqueued, now).await?;
        txn.commit().await?;
        Ok(enqueued.len())
    }

    pub async fn run(self, idle: Duration, shutdown: CancellationToken) {
        let batch = usize::try_from(self.batch).unwrap_or(usize::MAX);
        td_jobs::repeat_passes("NOD dispatch", batch, idle, shutdown, || self.pass()).await;
    }
}

/// Enqueues placement jobs for the FAILED tickets of `groups` at once (the dispatcher would
/// also find them); returns how many tickets were asked to be placed again.
pub async fn replace_failed(
    db: &DatabaseConnection,
    queue: &dyn JobQueue,
    streams: &Streams,
    groups: &[TicketDistributionGroupId],
    organisation: Option<td_domain::ids::OrganisationId>,
) -> anyhow::Result<usize> {
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let ids = store::request_replacement(&txn, groups, organisation, now).await?;
    txn.commit().await?;
    let mut enqueued = Vec::new();
    for id in &ids {
        let Some(ticket) = store::ticket(db, *id).await? else {
            continue;
        };
        if queue
            .enqueue(
                &streams.stream,
                &job_for(
                    JobKind::Place,
                    *id,
                    &ticket.order_id,
                    td_telemetry::propagation::current_traceparent_or(None),
                    td_telemetry::correlation::current(),
                ),
            )
            .await
            .is_ok()
        {
            enqueued.push(*id);
        }
    }
    store::mark_enqueued(db, &enqueued, now).await?;
    Ok(ids.len())
}

/// Takes NOD jobs and does them.
pub struct Worker {
    pub db: DatabaseConnection,
    pub queue: Arc<dyn JobQueue>,
    pub nod: Arc<dyn Nod>,
    pub streams: Streams,
    pub consumer: String,
    pub concurrency: usize,
}

/// What a job came to.
#[derive(Debug)]
enum Done {
    Finished,
    /// NOD was unavailable: try again later.
    Transient(String),
}

impl Worker {
    /// Keeps up to `concurrency` jobs in flight: a new job is taken as soon as one ends,
    /// so one slow NOD answer never holds back the others. At shutdown no new job is taken
    /// and those in flight finish, so that what NOD did is recorded.
    pub async fn run(self, shutdown: CancellationToken) {
        let consumer = td_jobs::Consumer {
            stream: self.streams.stream.clone(),
            group: self.streams.group.clone(),
            name: self.consumer.clone(),
            concurrency: self.concurrency,
        };
        let queue = self.queue.clone();
        let this = Arc::new(self);
        td_jobs::consume(queue, consumer, shutdown, move |delivery| {
            let this = this.clone();
            async move { this.settle(delivery).await }
        })
        .await;
    }

    async fn settle(&self, delivery: Delivery) {
        let job = &delivery.job;
        let span = tracing::info_span!(
            "nod.job",
            kind = %job.kind,
            job = %job.id,
            attempt = job.attempt,
            order_id = job.payload["orderId"].as_str().unwrap_or(""),
            ticket_distribution_id = job.payload["ticketDistributionId"].as_str().unwrap_or(""),
            correlation_id = job.payload["correlationId"].as_str().unwrap_or(""),
        );
        td_telemetry::propagation::follow(&span, job.traceparent.as_deref());
        self.settle_in_span(delivery).instrument(span).await
    }

    async fn settle_in_span(&self, delivery: Delivery) {
        let outcome = self.handle(&delivery).await;
        let settled = match outcome {
            Ok(Done::Finished) => self.queue.ack(&delivery).await.map(|_| ()),
            Ok(Done::Transient(reason)) | Err(reason) => {
                match self.queue.retry(&delivery, &reason).await {
                    Ok(RetryOutcome::DeadLettered) => self.exhausted(&delivery, &reason).await,
                    Ok(RetryOutcome::Scheduled { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(err) = settled {
            tracing::warn!(error = %err, job = %delivery.job.id, "settling a NOD job failed; it will be delivered again");
        }
    }

    /// Retries ran out: a placement ends FAILED (a cancellation is dispatched again later).
    async fn exhausted(&self, delivery: &Delivery, reason: &str) -> Result<(), td_jobs::JobError> {
        if delivery.job.kind != JobKind::Place.as_str() {
            return Ok(());
        }
        if let Some(id) = ticket_id(&delivery.job) {
            let change = NodChange {
                ticket_distribution_id: id,
                event: TdEvent::Failed,
                nod_order_group_id: None,
                reason: Some(format!("NOD_UNAVAILABLE: retries exhausted: {reason}")),
                media_serial_number_id: None,
                traceparent: td_telemetry::propagation::current_traceparent_or(
                    delivery.job.traceparent.as_deref(),
                ),
                at: chrono::Utc::now(),
            };
            if let Err(err) = apply(&self.db, &change).await {
                tracing::error!(error = %err, ticket_distribution_id = %id, "recording FAILED after exhausted retries");
            }
        }
        Ok(())
    }

    async fn handle(&self, delivery: &Delivery) -> Result<Done, String> {
        let job = &delivery.job;
        let Some(id) = ticket_id(job) else {
            tracing::error!(job = %job.id, "NOD job without a ticket id; dropped");
            return Ok(Done::Finished);
        };
        let Some(ticket) = store::ticket(&self.db, id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Done::Finished);
        };
        let status: TdStatus = ticket
            .status
            .parse()
            .map_err(|_| format!("unknown status {}", ticket.status))?;
        if job.kind == JobKind::Cancel.as_str() {
            return self.cancel(id, &ticket).await;
        }
        let wanted = status == TdStatus::Generated
            || (status == TdStatus::Failed && ticket.nod_replace_requested);
        if !wanted {
            return Ok(Done::Finished);
        }
        let request = PlaceRequest {
            client_reference: id.0.to_string(),
            orders: vec![Order::mobile_single_ticket(&ticket_content(&ticket))],
            valid_from: ticket.start_of_validity,
            valid_to: ticket.end_of_validity,
        };
        let change = |event, nod_id: Option<String>, reason: Option<String>| NodChange {
            ticket_distribution_id: id,
            event,
            nod_order_group_id: nod_id,
            reason,
            media_serial_number_id: None,
            traceparent: td_telemetry::propagation::current_traceparent_or(
                job.traceparent.as_deref(),
            ),
            at: chrono::Utc::now(),
        };
        match self.nod.place(&request).await {
            Ok(group) => {
                apply(
                    &self.db,
                    &change(
                        TdEvent::Distributed,
                        Some(group.id.as_str().to_owned()),
                        None,
                    ),
                )
                .await
                .map_err(|e| e.to_string())?;
                Ok(Done::Finished)
            }
            Err(NodError::Rejected {
                status,
                code,
                message,
            }) => {
                let reason = format!("NOD_REJECTED: {status} {code}: {message}");
                apply(&self.db, &change(TdEvent::Failed, None, Some(reason)))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Done::Finished)
            }
            Err(err) => Ok(Done::Transient(err.to_string())),
        }
    }

    async fn cancel(
        &self,
        id: TicketDistributionId,
        ticket: &td_store::entity::ticket_distribution::Model,
    ) -> Result<Done, String> {
        let (Some(nod_id), None) = (&ticket.nod_order_group_id, ticket.nod_cancelled_at) else {
            return Ok(Done::Finished);
        };
        match self.nod.cancel(&OrderGroupId::new(nod_id.clone())).await {
            Ok(_) | Err(NodError::NotFound { .. }) => {
                store::mark_cancelled_in_nod(&self.db, id, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Done::Finished)
            }
            Err(err) => Ok(Done::Transient(err.to_string())),
        }
    }
}

fn ticket_id(job: &Job) -> Option<TicketDistributionId> {
    job.payload["ticketDistributionId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .map(TicketDistributionId)
}

/// What a travel app shows for the ticket: NOD carries it as the order's description.
fn ticket_content(ticket: &td_store::entity::ticket_distribution::Model) -> Vec<u8> {
    json!({
        "ticketDistributionId": ticket.id.to_string(),
        "orderId": ticket.order_id,
        "fareProductRef": ticket.fare_product_ref,
        "fareProductName": ticket.fare_product_name,
        "userProfileRef": ticket.user_profile_ref,
        "startOfValidity": ticket.start_of_validity,
        "endOfValidity": ticket.end_of_validity,
        "details": ticket.details,
    })
    .to_string()
    .into_bytes()
}

/// Applies a change in a transaction of its own.
pub async fn apply(db: &DatabaseConnection, change: &NodChange) -> anyhow::Result<ChangeOutcome> {
    let txn = db.begin().await?;
    let outcome = store::apply_change(&txn, change).await?;
    txn.commit().await?;
    if let ChangeOutcome::Refused { status } = &outcome {
        tracing::debug!(ticket_distribution_id = %change.ticket_distribution_id, event = ?change.event, %status, "NOD change refused by the status machine (a repeat or overtaken)");
    }
    Ok(outcome)
}

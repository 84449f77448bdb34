//! NOD jobs: the typed jobs, what is due for one (`DueTickets`, fed to td-jobs'
//! dispatcher), and the handler that places and cancels tickets in NOD (`NodHandler`, run
//! by td-jobs' worker).
//!
//! Why no job is lost: a job is only ever a reminder. What must happen is recorded in
//! PostgreSQL (a GENERATED ticket, a FAILED one asked to be placed again, a CANCELLED one
//! that NOD still has), and the dispatcher enqueues a job for each such ticket, then stamps
//! it. A crash between enqueueing and stamping enqueues it once more; a job lost in the
//! queue is enqueued again once `redispatch_after` has passed while the ticket still
//! waits. Both are harmless, because handling a job is idempotent: NOD places by
//! `clientReference` (the ticket id) and the status machine refuses a repeated transition.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use td_domain::ids::{OrderId, TicketDistributionId};
use td_domain::status::{TdEvent, TdStatus};
pub use td_jobs::Streams;
use td_jobs::{FromJob, Handler, Job, JobError, JobKind, Outcome};
use td_nod::{Nod, NodError, Order, OrderGroupId, PlaceRequest};
use td_store::nod::{self as store, ChangeOutcome, DueJob, NodChange};
use td_store::{DatabaseConnection, DatabaseTransaction, TransactionTrait};

const DISPATCH_LOCK: i64 = 7_346_023;

/// Where NOD jobs go and who reads them.
pub fn streams(environment: &str) -> Streams {
    Streams::new(format!("nod-jobs-{environment}"), "nod-distributor")
}

/// The ticket a NOD job is about, with the correlation id of what called for it (its
/// trace context travels as the job's `traceparent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRef {
    pub ticket_distribution_id: TicketDistributionId,
    pub order_id: OrderId,
    pub correlation_id: Option<String>,
}

/// Place the ticket in NOD (it is GENERATED, or FAILED and asked to be placed again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlaceTicket(pub TicketRef);

impl JobKind for PlaceTicket {
    const KIND: &'static str = "place";
}

/// Cancel in NOD a ticket cancelled here that NOD still has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CancelTicket(pub TicketRef);

impl JobKind for CancelTicket {
    const KIND: &'static str = "cancel";
}

/// What the NOD stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodJob {
    Place(PlaceTicket),
    Cancel(CancelTicket),
}

impl NodJob {
    pub fn ticket(&self) -> &TicketRef {
        match self {
            Self::Place(PlaceTicket(t)) | Self::Cancel(CancelTicket(t)) => t,
        }
    }

    /// The queue's job, continuing the trace `traceparent`.
    pub fn to_job(&self, traceparent: Option<String>) -> Result<Job, JobError> {
        let mut job = match self {
            Self::Place(place) => Job::of(place)?,
            Self::Cancel(cancel) => Job::of(cancel)?,
        };
        job.traceparent = traceparent;
        Ok(job)
    }

    /// The job a due ticket calls for.
    pub fn for_due(due: &DueJob) -> Self {
        let ticket = TicketRef {
            ticket_distribution_id: due.ticket_distribution_id,
            order_id: due.order_id.clone(),
            correlation_id: due.correlation_id.clone(),
        };
        match due.kind {
            store::JobKind::Place => Self::Place(PlaceTicket(ticket)),
            store::JobKind::Cancel => Self::Cancel(CancelTicket(ticket)),
        }
    }
}

impl FromJob for NodJob {
    fn from_job(job: &Job) -> Result<Self, JobError> {
        match job.kind.as_str() {
            PlaceTicket::KIND => PlaceTicket::from_job(job).map(Self::Place),
            CancelTicket::KIND => CancelTicket::from_job(job).map(Self::Cancel),
            _ => Err(td_jobs::malformed(job, "not a NOD job")),
        }
    }
}

/// The tickets due for a NOD job. On PostgreSQL one replica dispatches at a time (a
/// transaction-scoped advisory lock), so replicas do not enqueue the same tickets.
pub struct DueTickets {
    pub db: DatabaseConnection,
    pub redispatch_after: Duration,
}

impl td_jobs::Due for DueTickets {
    type Key = TicketDistributionId;
    type Pass = DatabaseTransaction;
    const WHAT: &'static str = "NOD dispatch";

    async fn begin(&self) -> anyhow::Result<Option<DatabaseTransaction>> {
        Ok(td_store::begin_exclusive(&self.db, DISPATCH_LOCK).await?)
    }

    async fn fetch(
        &self,
        txn: &DatabaseTransaction,
        now: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> anyhow::Result<Vec<(TicketDistributionId, Job)>> {
        let redispatch_after = chrono::Duration::from_std(self.redispatch_after)?;
        let due = store::due_jobs(txn, now, redispatch_after, limit).await?;
        due.iter()
            .map(|due| {
                let job = NodJob::for_due(due).to_job(due.traceparent.clone())?;
                Ok((due.ticket_distribution_id, job))
            })
            .collect()
    }

    async fn mark_enqueued(
        &self,
        txn: DatabaseTransaction,
        enqueued: &[TicketDistributionId],
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        store::mark_enqueued(&txn, enqueued, now).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The dispatcher of NOD jobs.
pub type Dispatcher = td_jobs::Dispatcher<DueTickets>;

/// How long a ticket waits for NOD to come back. Each wait is about as long as the ticket
/// has already waited in this placement effort (so the waits double), at least a second and
/// at most `retry_max`; a new ticket is FAILED (`NOD_UNAVAILABLE`) once it has waited
/// `horizon`, and is still placed automatically when NOD answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    pub retry_max: Duration,
    pub horizon: Duration,
}

impl Unavailable {
    const MIN_PAUSE: Duration = Duration::from_secs(1);

    /// After an attempt that failed at `now` in an effort that began at `since`: when to try
    /// again, and whether the effort is past the horizon.
    pub fn after_failure(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (chrono::DateTime<chrono::Utc>, bool) {
        let waited = (now - since).to_std().unwrap_or_default();
        let pause = waited.clamp(Self::MIN_PAUSE, self.retry_max.max(Self::MIN_PAUSE));
        let retry_at = now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::MAX);
        (retry_at, waited >= self.horizon)
    }
}

/// Places and cancels tickets in NOD.
pub struct NodHandler {
    pub db: DatabaseConnection,
    pub nod: Arc<dyn Nod>,
    pub unavailable: Unavailable,
}

/// Takes NOD jobs and does them; `process_one` is one job of it.
pub type Worker = td_jobs::Worker<NodHandler>;

impl Handler for NodHandler {
    type Job = NodJob;

    fn span(&self, job: &NodJob, leased: &Job) -> tracing::Span {
        let ticket = job.ticket();
        let span = tracing::info_span!(
            "nod.job",
            kind = %leased.kind,
            job = %leased.id,
            attempt = leased.attempt,
            order_id = %ticket.order_id,
            ticket_distribution_id = %ticket.ticket_distribution_id,
            correlation_id = ticket.correlation_id.as_deref().unwrap_or(""),
        );
        td_telemetry::propagation::follow(&span, leased.traceparent.as_deref());
        span
    }

    async fn handle(&self, job: &NodJob, leased: &Job) -> Outcome {
        let result = match job {
            NodJob::Place(place) => self.place(place, leased).await,
            NodJob::Cancel(cancel) => self.cancel(cancel, leased).await,
        };
        result.unwrap_or_else(Outcome::Retry)
    }

    /// The job's own retries ran out, which only a failing database (or a failing NOD during
    /// a cancellation) causes: NOD being unavailable during a placement holds the ticket in
    /// PostgreSQL instead. Nothing is decided here; the dispatcher offers the ticket again
    /// once `redispatch_after` has passed, as for a lost job.
    async fn exhausted(&self, job: &NodJob, _leased: &Job, reason: &str) {
        let ticket = job.ticket();
        tracing::warn!(ticket_distribution_id = %ticket.ticket_distribution_id, %reason, "NOD job out of retries; the ticket is offered again after the redispatch delay");
    }
}

impl NodHandler {
    /// Places a ticket that still waits for it; `Err` is a reason to try again.
    async fn place(&self, PlaceTicket(job): &PlaceTicket, leased: &Job) -> Result<Outcome, String> {
        let id = job.ticket_distribution_id;
        let Some(ticket) = store::ticket(&self.db, id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Outcome::Done);
        };
        if !ticket.needs_placement().map_err(|e| e.to_string())? {
            return Ok(Outcome::Done);
        }
        let started = chrono::Utc::now();
        // Stamped before NOD is called: if the answer is lost, a cancellation asks NOD.
        store::begin_placement(&self.db, id, started)
            .await
            .map_err(|e| e.to_string())?;
        let since = ticket.nod_placing_since.unwrap_or(started);
        let change = |event, nod_id: Option<String>, reason: Option<String>| NodChange {
            ticket_distribution_id: id,
            event,
            nod_order_group_id: nod_id,
            reason,
            media_serial_number_id: None,
            traceparent: td_telemetry::propagation::current_traceparent_or(
                leased.traceparent.as_deref(),
            ),
            at: chrono::Utc::now(),
        };
        let recorded = match self.nod.place(&place_request(&ticket)).await {
            Ok(group) => change(
                TdEvent::Distributed,
                Some(group.id.as_str().to_owned()),
                None,
            ),
            Err(NodError::Rejected {
                status,
                code,
                message,
            }) => {
                let reason = format!("NOD_REJECTED: {status} {code}: {message}");
                change(TdEvent::Failed, None, Some(reason))
            }
            Err(err) => return self.wait_for_nod(&ticket, since, err, change).await,
        };
        apply(&self.db, &recorded)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Done)
    }

    /// NOD did not answer a placement: the ticket waits (held in PostgreSQL, so a restart or a
    /// lost queue changes nothing), and a new ticket that has waited past the horizon is
    /// FAILED with `NOD_UNAVAILABLE` and keeps being placed until NOD takes it.
    async fn wait_for_nod(
        &self,
        ticket: &td_store::entity::ticket_distribution::Model,
        since: chrono::DateTime<chrono::Utc>,
        err: NodError,
        change: impl Fn(TdEvent, Option<String>, Option<String>) -> NodChange,
    ) -> Result<Outcome, String> {
        let id = TicketDistributionId(ticket.id);
        let now = chrono::Utc::now();
        let (retry_at, past_horizon) = self.unavailable.after_failure(since, now);
        let status = ticket.status().map_err(|e| e.to_string())?;
        let unavailable =
            (past_horizon || status == TdStatus::Failed).then(|| format!("NOD_UNAVAILABLE: {err}"));
        let txn = self.db.begin().await.map_err(|e| e.to_string())?;
        if let (Some(reason), TdStatus::Generated) = (&unavailable, status) {
            store::apply_change(&txn, &change(TdEvent::Failed, None, Some(reason.clone())))
                .await
                .map_err(|e| e.to_string())?;
        }
        store::hold(&txn, id, since, retry_at, unavailable.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())?;
        metrics::counter!("td_nod_placement_deferred_total").increment(1);
        tracing::warn!(
            ticket_distribution_id = %id,
            error = %err,
            %retry_at,
            failed = unavailable.is_some(),
            "NOD did not take the placement; the ticket waits"
        );
        Ok(Outcome::Done)
    }

    /// Cancels in NOD a ticket cancelled here that NOD has or may have; `Err` is a reason to
    /// try again.
    async fn cancel(
        &self,
        CancelTicket(job): &CancelTicket,
        leased: &Job,
    ) -> Result<Outcome, String> {
        let id = job.ticket_distribution_id;
        let Some(ticket) = store::ticket(&self.db, id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Outcome::Done);
        };
        if ticket.nod_cancelled_at.is_some() || ticket.nod_cancel_refused_at.is_some() {
            return Ok(Outcome::Done);
        }
        let nod_id = match &ticket.nod_order_group_id {
            Some(nod_id) => OrderGroupId::new(nod_id.clone()),
            None if ticket.nod_place_attempted_at.is_some() => {
                // The placement's outcome is unknown. Placing again is idempotent on the
                // ticket id: it answers the group NOD made, or makes it now (a placement still
                // in flight then finds it too), and either way it is cancelled next.
                match self.nod.place(&place_request(&ticket)).await {
                    Ok(group) => {
                        store::record_order_group(&self.db, id, group.id.as_str())
                            .await
                            .map_err(|e| e.to_string())?;
                        group.id
                    }
                    Err(NodError::Rejected { .. }) => {
                        // NOD refuses the ticket: it has no group for it.
                        store::mark_cancelled_in_nod(&self.db, id, chrono::Utc::now())
                            .await
                            .map_err(|e| e.to_string())?;
                        return Ok(Outcome::Done);
                    }
                    Err(err) => return Ok(Outcome::Retry(err.to_string())),
                }
            }
            None => return Ok(Outcome::Done),
        };
        match self.nod.cancel(&nod_id).await {
            Ok(_) | Err(NodError::NotFound { .. }) => {
                store::mark_cancelled_in_nod(&self.db, id, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Outcome::Done)
            }
            Err(NodError::Rejected {
                status,
                code,
                message,
            }) => {
                let reason = format!("NOD_REJECTED: {status} {code}: {message}");
                store::record_cancel_refused(&self.db, id, &reason, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
                metrics::counter!("td_nod_cancel_refused_total").increment(1);
                tracing::error!(
                    ticket_distribution_id = %id,
                    nod_order_group_id = %nod_id.as_str(),
                    job = %leased.id,
                    %reason,
                    "NOD refused to cancel a cancelled ticket; recorded, not retried"
                );
                Ok(Outcome::Done)
            }
            Err(err) => Ok(Outcome::Retry(err.to_string())),
        }
    }
}

/// The placement of a ticket: one order group per ticket, idempotent on its id.
fn place_request(ticket: &td_store::entity::ticket_distribution::Model) -> PlaceRequest {
    PlaceRequest {
        client_reference: ticket.id.to_string(),
        orders: vec![Order::mobile_single_ticket(&ticket_content(ticket))],
        valid_from: ticket.start_of_validity,
        valid_to: ticket.end_of_validity,
    }
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

//! What NOD distribution reads and writes: the tickets due for a NOD job, each status change
//! NOD causes (handed to `transition`, which writes it with its event and any order-version
//! milestone, in the caller's transaction), the transaction feed's cursor and the feed
//! entries that could not be applied (`quarantine_feed_entry`).
//!
//! No job is lost between PostgreSQL and the job queue: the queue is fed by a dispatcher
//! that reads what is due here (`due_jobs`), enqueues it and then stamps `nod_enqueued_at`.
//! A crash between the two re-enqueues the ticket on the next pass; a job that vanished
//! (a crashed queue, a dead letter) is enqueued again once `redispatch_after` has passed
//! while the ticket is still waiting. Jobs are idempotent, so an extra one changes nothing.

use crate::entity::{
    group, nod_feed, nod_feed_quarantine, order, order_version, ticket_distribution as td,
};
use crate::outbox::EventBatch;
use crate::transition::{self, Change};
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use td_domain::ids::{OrderId, Scope, TicketDistributionGroupId, TicketDistributionId};
use td_domain::status::{needs_placement, TdEvent, TdStatus};
use td_events::EventHeader;

/// What a NOD job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Place the ticket in NOD (GENERATED, or FAILED and asked to be placed again).
    Place,
    /// Cancel in NOD a ticket cancelled here that NOD still has.
    Cancel,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Place => "place",
            Self::Cancel => "cancel",
        }
    }
}

/// A ticket that needs a NOD job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    pub kind: JobKind,
    pub ticket_distribution_id: TicketDistributionId,
    pub order_id: OrderId,
    /// The trace context and correlation id of the order's latest recorded version, so the
    /// job continues the trace of the event that called for it.
    pub traceparent: Option<String>,
    pub correlation_id: Option<String>,
}

/// Tickets that need a job now: never enqueued, or enqueued longer than `redispatch_after`
/// ago and still waiting, or held back while NOD was unavailable and due again (a job enqueued
/// before the hold began has been handled: the hold was set by its worker). A held ticket is
/// not due before its `nod_retry_at`. Oldest first, at most `limit`.
pub async fn due_jobs<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    redispatch_after: chrono::Duration,
    limit: u64,
) -> Result<Vec<DueJob>, StoreError> {
    let stale = now - redispatch_after;
    let not_recent = Condition::any()
        .add(td::Column::NodEnqueuedAt.is_null())
        .add(td::Column::NodEnqueuedAt.lt(stale))
        .add(
            Condition::all()
                .add(td::Column::NodRetryAt.is_not_null())
                .add(Expr::col(td::Column::NodEnqueuedAt).lt(Expr::col(td::Column::NodRetryAt))),
        );
    let not_held = Condition::any()
        .add(td::Column::NodRetryAt.is_null())
        .add(td::Column::NodRetryAt.lte(now));
    let place = placement_condition();
    let cancel = Condition::all()
        .add(td::Column::Status.eq(TdStatus::Cancelled.as_str()))
        .add(td::Column::NodCancelledAt.is_null())
        .add(td::Column::NodCancelRefusedAt.is_null())
        .add(
            Condition::any()
                .add(td::Column::NodOrderGroupId.is_not_null())
                .add(td::Column::NodPlaceAttemptedAt.is_not_null()),
        );
    let rows = td::Entity::find()
        .filter(
            Condition::all()
                .add(not_recent)
                .add(not_held)
                .add(Condition::any().add(place).add(cancel)),
        )
        .order_by_asc(td::Column::UpdatedAt)
        .limit(limit)
        .all(conn)
        .await?;
    let mut orders: Vec<String> = rows.iter().map(|r| r.order_id.clone()).collect();
    orders.sort_unstable();
    orders.dedup();
    let mut contexts = std::collections::HashMap::new();
    if !orders.is_empty() {
        let versions: Vec<(String, Option<String>, Option<String>)> = order_version::Entity::find()
            .select_only()
            .column(order_version::Column::OrderId)
            .column(order_version::Column::Traceparent)
            .column(order_version::Column::CorrelationId)
            .filter(order_version::Column::OrderId.is_in(orders))
            .order_by_asc(order_version::Column::Version)
            .order_by_asc(order_version::Column::RecordedAt)
            .into_tuple()
            .all(conn)
            .await?;
        // The latest version of each order comes last.
        for (order_id, traceparent, correlation_id) in versions {
            contexts.insert(order_id, (traceparent, correlation_id));
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let (traceparent, correlation_id) =
                contexts.get(&row.order_id).cloned().unwrap_or_default();
            DueJob {
                kind: if row.status().ok() == Some(TdStatus::Cancelled) {
                    JobKind::Cancel
                } else {
                    JobKind::Place
                },
                ticket_distribution_id: TicketDistributionId(row.id),
                order_id: OrderId(row.order_id),
                traceparent,
                correlation_id,
            }
        })
        .collect())
}

/// `td_domain::needs_placement` as SQL, status by status, so the two cannot drift apart. A
/// ticket is asked to be placed when a placement was requested or NOD was unavailable
/// (`td::Model::needs_placement`).
fn placement_condition() -> Condition {
    let asked = || {
        Condition::any()
            .add(td::Column::NodReplaceRequested.eq(true))
            .add(td::Column::NodUnavailable.eq(true))
    };
    let not_asked = || {
        Condition::all()
            .add(td::Column::NodReplaceRequested.eq(false))
            .add(td::Column::NodUnavailable.eq(false))
    };
    TdStatus::ALL
        .into_iter()
        .fold(Condition::any(), |any, status| {
            let is = td::Column::Status.eq(status.as_str());
            match (
                needs_placement(status, false),
                needs_placement(status, true),
            ) {
                (true, true) => any.add(is),
                (false, true) => any.add(Condition::all().add(is).add(asked())),
                (true, false) => any.add(Condition::all().add(is).add(not_asked())),
                (false, false) => any,
            }
        })
}

/// Stamps tickets as enqueued at `now`.
pub async fn mark_enqueued<C: ConnectionTrait>(
    conn: &C,
    ids: &[TicketDistributionId],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    td::Entity::update_many()
        .col_expr(td::Column::NodEnqueuedAt, Expr::value(now))
        .filter(td::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Clears what a placement effort leaves on a ticket once it has ended (placed, or FAILED):
/// no hold, no longer waiting for NOD to come back. `nod_place_attempted_at` stays: NOD may
/// still have a group for the ticket.
pub(crate) fn end_placement_effort(update: &mut td::ActiveModel) {
    update.nod_placing_since = Set(None);
    update.nod_retry_at = Set(None);
    update.nod_unavailable = Set(false);
}

/// Stamps a placement call that is about to be made: from now on the ticket may be in NOD
/// even if the answer never arrives. Keeps the first attempt and the start of the current
/// effort when they are set.
pub async fn begin_placement<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    td::Entity::update_many()
        .col_expr(
            td::Column::NodPlaceAttemptedAt,
            Expr::col(td::Column::NodPlaceAttemptedAt).if_null(now),
        )
        .col_expr(
            td::Column::NodPlacingSince,
            Expr::col(td::Column::NodPlacingSince).if_null(now),
        )
        .filter(td::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Holds a ticket back from NOD jobs until `retry_at` (NOD was unavailable), in the
/// placement effort that began at `since`. With `unavailable` (the reason), the ticket is
/// FAILED only because NOD did not answer: it is asked to be placed again, with that reason
/// as its failure reason, and is placed automatically once NOD answers.
pub async fn hold<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    since: DateTime<Utc>,
    retry_at: DateTime<Utc>,
    unavailable: Option<&str>,
) -> Result<(), StoreError> {
    let mut update = td::Entity::update_many()
        .col_expr(td::Column::NodPlacingSince, Expr::value(since))
        .col_expr(td::Column::NodRetryAt, Expr::value(retry_at))
        .col_expr(
            td::Column::NodEnqueuedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        );
    if let Some(reason) = unavailable {
        update = update
            .col_expr(td::Column::NodUnavailable, Expr::value(true))
            .col_expr(td::Column::NodReplaceRequested, Expr::value(false))
            .col_expr(td::Column::FailureReason, Expr::value(reason));
    }
    // A ticket cancelled meanwhile is not held: its cancellation in NOD is due at once.
    update
        .filter(td::Column::Id.eq(id.0))
        .filter(td::Column::Status.is_in([TdStatus::Generated.as_str(), TdStatus::Failed.as_str()]))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records that NOD refused, for good, to cancel a ticket cancelled here: no further job is
/// due for it, and the reason stays with the ticket.
pub async fn record_cancel_refused<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    td::Entity::update_many()
        .col_expr(td::Column::NodCancelRefusedAt, Expr::value(at))
        .col_expr(td::Column::NodCancelRefusedReason, Expr::value(reason))
        .filter(td::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records the NOD order group of a ticket whose placement outcome was unknown, once NOD
/// has said which it is.
pub async fn record_order_group<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    nod_order_group_id: &str,
) -> Result<(), StoreError> {
    td::Entity::update_many()
        .col_expr(td::Column::NodOrderGroupId, Expr::value(nod_order_group_id))
        .filter(td::Column::Id.eq(id.0))
        .filter(td::Column::NodOrderGroupId.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Asks for the FAILED tickets of `groups` (within `scope`) to be placed
/// again, in one statement where the database can return what it changed; returns them. Other
/// tickets are left alone. The request only
/// marks them: the NOD dispatcher (`due_jobs`) then finds them due like any other ticket
/// waiting for a job, so whoever records the request needs no line to nod-distributor.
pub async fn request_replacement<C: ConnectionTrait>(
    conn: &C,
    groups: &[TicketDistributionGroupId],
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<Vec<TicketDistributionId>, StoreError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let mut update = td::Entity::update_many()
        .col_expr(td::Column::NodReplaceRequested, Expr::value(true))
        .col_expr(
            td::Column::NodEnqueuedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            td::Column::NodPlacingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            td::Column::NodRetryAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(td::Column::UpdatedAt, Expr::value(now))
        .filter(td::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
        .filter(td::Column::Status.eq(TdStatus::Failed.as_str()));
    if let Some(org) = scope.organisation() {
        update = update.filter(td::Column::OrganisationId.eq(org.0));
    }
    let mut ids: Vec<TicketDistributionId> = if conn.support_returning() {
        update
            .exec_with_returning(conn)
            .await?
            .into_iter()
            .map(|r| TicketDistributionId(r.id))
            .collect()
    } else {
        // SQLite (the embedded default) as built here has no RETURNING; it also has a single
        // writer, so reading the ids first cannot race with another change.
        let mut query = td::Entity::find()
            .select_only()
            .column(td::Column::Id)
            .filter(td::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
            .filter(td::Column::Status.eq(TdStatus::Failed.as_str()));
        if let Some(org) = scope.organisation() {
            query = query.filter(td::Column::OrganisationId.eq(org.0));
        }
        let ids: Vec<uuid::Uuid> = query.into_tuple().all(conn).await?;
        update.exec(conn).await?;
        ids.into_iter().map(TicketDistributionId).collect()
    };
    ids.sort_by_key(|id| id.0);
    Ok(ids)
}

/// A ticket as a NOD job needs it.
pub async fn ticket<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
) -> Result<Option<td::Model>, StoreError> {
    Ok(td::Entity::find_by_id(id.0).one(conn).await?)
}

/// What NOD told us about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodChange {
    pub ticket_distribution_id: TicketDistributionId,
    pub event: TdEvent,
    /// For `Distributed`: NOD's order group id.
    pub nod_order_group_id: Option<String>,
    /// For `Failed`: why.
    pub reason: Option<String>,
    /// For `PickedUp`: the travel card or app instance, when NOD says.
    pub media_serial_number_id: Option<String>,
    pub traceparent: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// The ticket moved `from` → `to`; its event is in the outbox.
    Applied {
        from: TdStatus,
        to: TdStatus,
    },
    /// The status machine refused (a repeat, or overtaken); nothing changed except that a
    /// placement NOD made for a ticket cancelled meanwhile is remembered, so that it is
    /// cancelled in NOD too.
    Refused {
        status: TdStatus,
    },
    UnknownTicket,
}

/// Applies what NOD said as one domain transition, with its outbox event and, when it
/// completes an order version, `AllTicketDistributionGroupsForOrderVersionDistributed`.
/// Run it in a transaction: it locks the ticket's order first, so that changes to one order
/// are serialised (and the completion check sees every committed sibling).
pub async fn apply_change<C: ConnectionTrait>(
    conn: &C,
    change: &NodChange,
) -> Result<ChangeOutcome, StoreError> {
    let id = change.ticket_distribution_id;
    let Some(row) = td::Entity::find_by_id(id.0).one(conn).await? else {
        return Ok(ChangeOutcome::UnknownTicket);
    };
    order::Entity::find_by_id(row.order_id.clone())
        .lock_exclusive()
        .one(conn)
        .await?;
    // Read again under the order's lock.
    let Some(row) = td::Entity::find_by_id(id.0).one(conn).await? else {
        return Ok(ChangeOutcome::UnknownTicket);
    };
    let nod_change = match change.event {
        TdEvent::Distributed => Change::Distributed {
            nod_order_group_id: change.nod_order_group_id.clone(),
        },
        TdEvent::Failed => Change::Failed {
            reason: change.reason.clone(),
        },
        TdEvent::PickedUp => Change::PickedUp {
            media_serial_number_id: change.media_serial_number_id.clone(),
        },
        TdEvent::Activated => Change::Activated,
        TdEvent::Cancelled => Change::Cancelled { cause: None },
        TdEvent::CancelledExternally => Change::CancelledExternally,
        TdEvent::Expired => Change::Expired,
    };
    let accepted = match transition::accept(&row, &nod_change)? {
        Ok(accepted) => accepted,
        Err(refused) => {
            let from = refused.from;
            if change.event == TdEvent::Distributed && row.nod_order_group_id.is_none() {
                if let Some(nod_id) = &change.nod_order_group_id {
                    td::Entity::update(td::ActiveModel {
                        id: Set(row.id),
                        nod_order_group_id: Set(Some(nod_id.clone())),
                        nod_enqueued_at: Set(None),
                        ..Default::default()
                    })
                    .exec(conn)
                    .await?;
                }
            }
            if change.event == TdEvent::Failed && from == TdStatus::Failed {
                // A re-placement failed again: keep the newest reason, end the request.
                let mut update = td::ActiveModel {
                    id: Set(row.id),
                    failure_reason: Set(change.reason.clone()),
                    nod_replace_requested: Set(false),
                    updated_at: Set(change.at),
                    ..Default::default()
                };
                end_placement_effort(&mut update);
                td::Entity::update(update).exec(conn).await?;
            }
            return Ok(ChangeOutcome::Refused { status: from });
        }
    };
    let (from, to) = (accepted.from, accepted.to);

    // The event names the version the ticket's group was last confirmed in, with that
    // version's correlation id.
    let group = group::Entity::find_by_id(row.group_id)
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("ticket {id} has no group")))?;
    let correlation_id = order_version::Entity::find()
        .filter(order_version::Column::OrderId.eq(row.order_id.clone()))
        .filter(order_version::Column::Version.eq(group.order_version))
        .one(conn)
        .await?
        .and_then(|v| v.correlation_id);
    let header = EventHeader::new(
        correlation_id,
        change.at,
        row.organisation_id,
        row.order_id.clone(),
        u32::try_from(group.order_version).unwrap_or(0),
    )?;
    let mut events = EventBatch::new(header, change.traceparent.clone(), change.at);
    accepted.write(conn, change.at, &mut events).await?;
    events.write(conn).await?;
    Ok(ChangeOutcome::Applied { from, to })
}

/// Records that NOD confirmed the cancellation of a ticket cancelled here.
pub async fn mark_cancelled_in_nod<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    td::Entity::update_many()
        .col_expr(td::Column::NodCancelledAt, Expr::value(at))
        .filter(td::Column::Id.eq(id.0))
        .exec(conn)
        .await?;
    Ok(())
}

/// Where the NOD feed was read up to.
pub async fn feed_cursor<C: ConnectionTrait>(conn: &C) -> Result<Option<String>, StoreError> {
    Ok(nod_feed::Entity::find_by_id(1)
        .one(conn)
        .await?
        .and_then(|r| r.cursor))
}

/// Saves where the NOD feed was read up to (in the transaction that applied those entries).
pub async fn save_feed_cursor<C: ConnectionTrait>(
    conn: &C,
    cursor: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    nod_feed::Entity::insert(nod_feed::ActiveModel {
        id: Set(1),
        cursor: Set(Some(cursor.to_owned())),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(nod_feed::Column::Id)
            .update_columns([nod_feed::Column::Cursor, nod_feed::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Parks a feed entry that cannot be applied (`entry` is its JSON form), in the transaction
/// of its page and cursor, so that the feed goes on past it.
pub async fn quarantine_feed_entry<C: ConnectionTrait>(
    conn: &C,
    entry: serde_json::Value,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    nod_feed_quarantine::Entity::insert(nod_feed_quarantine::ActiveModel {
        entry: Set(entry),
        reason: Set(reason.to_owned()),
        quarantined_at: Set(at),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The parked feed entries, oldest first.
pub async fn quarantined_feed_entries<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<nod_feed_quarantine::Model>, StoreError> {
    Ok(nod_feed_quarantine::Entity::find()
        .order_by_asc(nod_feed_quarantine::Column::Id)
        .all(conn)
        .await?)
}

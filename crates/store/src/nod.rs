//! What NOD distribution reads and writes: the tickets due for a NOD job, each status change
//! NOD causes (one domain transition with its outbox event, in the caller's transaction),
//! the once-per-version "all distributed" event, and the transaction feed's cursor.
//!
//! No job is lost between PostgreSQL and the job queue: the queue is fed by a dispatcher
//! that reads what is due here (`due_jobs`), enqueues it and then stamps `nod_enqueued_at`.
//! A crash between the two re-enqueues the ticket on the next pass; a job that vanished
//! (a crashed queue, a dead letter) is enqueued again once `redispatch_after` has passed
//! while the ticket is still waiting. Jobs are idempotent, so an extra one changes nothing.

use crate::entity::{
    group, group_order_version, nod_feed, order, order_version, ticket_distribution as td,
};
use crate::outbox::{EventBatch, EventContext};
use crate::record::parse_status;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use td_domain::ids::{OrderId, OrganisationId, TicketDistributionGroupId, TicketDistributionId};
use td_domain::status::{TdEvent, TdStatus};

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
/// ago and still waiting. Oldest first, at most `limit`.
pub async fn due_jobs<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    redispatch_after: chrono::Duration,
    limit: u64,
) -> Result<Vec<DueJob>, StoreError> {
    let stale = now - redispatch_after;
    let not_recent = Condition::any()
        .add(td::Column::NodEnqueuedAt.is_null())
        .add(td::Column::NodEnqueuedAt.lt(stale));
    let place = Condition::any()
        .add(td::Column::Status.eq(TdStatus::Generated.as_str()))
        .add(
            Condition::all()
                .add(td::Column::Status.eq(TdStatus::Failed.as_str()))
                .add(td::Column::NodReplaceRequested.eq(true)),
        );
    let cancel = Condition::all()
        .add(td::Column::Status.eq(TdStatus::Cancelled.as_str()))
        .add(td::Column::NodOrderGroupId.is_not_null())
        .add(td::Column::NodCancelledAt.is_null());
    let rows = td::Entity::find()
        .filter(
            Condition::all()
                .add(not_recent)
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
                kind: if row.status == TdStatus::Cancelled.as_str() {
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

/// Asks for the FAILED tickets of `groups` (of `organisation`, when given) to be placed
/// again; returns them. Other tickets are left alone.
pub async fn request_replacement<C: ConnectionTrait>(
    conn: &C,
    groups: &[TicketDistributionGroupId],
    organisation: Option<OrganisationId>,
    now: DateTime<Utc>,
) -> Result<Vec<TicketDistributionId>, StoreError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = td::Entity::find()
        .filter(td::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
        .filter(td::Column::Status.eq(TdStatus::Failed.as_str()));
    if let Some(org) = organisation {
        query = query.filter(td::Column::OrganisationId.eq(org.0));
    }
    let ids: Vec<TicketDistributionId> = query
        .all(conn)
        .await?
        .into_iter()
        .map(|r| TicketDistributionId(r.id))
        .collect();
    if !ids.is_empty() {
        td::Entity::update_many()
            .col_expr(td::Column::NodReplaceRequested, Expr::value(true))
            .col_expr(
                td::Column::NodEnqueuedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(td::Column::UpdatedAt, Expr::value(now))
            .filter(td::Column::Id.is_in(ids.iter().map(|i| i.0)))
            .exec(conn)
            .await?;
    }
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

fn event_type(event: TdEvent) -> &'static str {
    match event {
        TdEvent::Distributed => "TicketDistributionDistributed",
        TdEvent::Failed => "TicketDistributionFailed",
        TdEvent::PickedUp => "TicketDistributionPickedUp",
        TdEvent::Activated => "TicketDistributionActivated",
        TdEvent::Cancelled => "TicketDistributionCancelled",
        TdEvent::CancelledExternally => "TicketDistributionCancelledExternally",
        TdEvent::Expired => "TicketDistributionExpired",
    }
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
    let from = parse_status(&row.status)?;
    let to = match from.apply(change.event) {
        Ok(to) => to,
        Err(_) => {
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
                td::Entity::update(td::ActiveModel {
                    id: Set(row.id),
                    failure_reason: Set(change.reason.clone()),
                    nod_replace_requested: Set(false),
                    updated_at: Set(change.at),
                    ..Default::default()
                })
                .exec(conn)
                .await?;
            }
            return Ok(ChangeOutcome::Refused { status: from });
        }
    };

    let mut update = td::ActiveModel {
        id: Set(row.id),
        status: Set(to.as_str().to_owned()),
        updated_at: Set(change.at),
        ..Default::default()
    };
    match change.event {
        TdEvent::Distributed => {
            update.nod_order_group_id = Set(change.nod_order_group_id.clone());
            update.distributed_at = Set(Some(change.at));
            update.failure_reason = Set(None);
            update.nod_replace_requested = Set(false);
        }
        TdEvent::Failed => {
            update.failure_reason = Set(change.reason.clone());
            update.nod_replace_requested = Set(false);
        }
        TdEvent::PickedUp => {
            update.picked_up_at = Set(Some(change.at));
            if change.media_serial_number_id.is_some() {
                update.media_serial_number_id = Set(change.media_serial_number_id.clone());
            }
        }
        _ => {}
    }
    td::Entity::update(update).exec(conn).await?;
    crate::notify::status_changed(conn, &[id]).await?;

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
    let ctx = EventContext {
        correlation_id,
        traceparent: change.traceparent.clone(),
        timestamp: change.at,
        organisation_id: OrganisationId(row.organisation_id),
        order_id: OrderId(row.order_id.clone()),
        order_version: u32::try_from(group.order_version).unwrap_or(0),
    };
    let mut events = EventBatch::new(&ctx);
    let mut body = json!({
        "ticketDistributionId": id.0.to_string(),
        "status": to.as_str(),
    });
    match change.event {
        TdEvent::Distributed => {
            body["nodOrderGroupId"] = json!(change.nod_order_group_id.clone().unwrap_or_default());
        }
        TdEvent::PickedUp => {
            body["mediaSerialNumberId"] = json!(change.media_serial_number_id);
        }
        TdEvent::Failed => {
            body["reason"] = json!(change.reason.clone().unwrap_or_default());
        }
        TdEvent::Cancelled => {
            body["reason"] = json!(row.cancel_cause.clone().unwrap_or_default());
        }
        _ => {}
    }
    events.group_event(
        TicketDistributionGroupId(group.id),
        event_type(change.event),
        body,
    );
    if to.is_in_nod_or_beyond() {
        complete_versions(conn, &row.order_id, group.id, change.at, &mut events).await?;
    }
    events.write(conn).await?;
    Ok(ChangeOutcome::Applied { from, to })
}

/// Adds `AllTicketDistributionGroupsForOrderVersionDistributed` for every confirmed version
/// holding `group` whose tickets are now all in NOD or beyond, once per version.
async fn complete_versions<C: ConnectionTrait>(
    conn: &C,
    order_id: &str,
    group_id: uuid::Uuid,
    at: DateTime<Utc>,
    events: &mut EventBatch<'_>,
) -> Result<(), StoreError> {
    let versions: Vec<i32> = group_order_version::Entity::find()
        .filter(group_order_version::Column::GroupId.eq(group_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|g| g.order_version)
        .collect();
    for version in versions {
        complete_version(conn, order_id, version, at, events).await?;
    }
    Ok(())
}

/// Adds `AllTicketDistributionGroupsForOrderVersionDistributed` for confirmed `version` of
/// the order when every ticket of its groups is in NOD or beyond and it was not reported
/// before. Also called when a version is recorded whose kept groups are all in NOD already.
pub(crate) async fn complete_version<C: ConnectionTrait>(
    conn: &C,
    order_id: &str,
    version: i32,
    at: DateTime<Utc>,
    events: &mut EventBatch<'_>,
) -> Result<(), StoreError> {
    // Only the columns decided on are read: this runs for every version recorded and every
    // NOD transition, and the rows' JSON (the order snapshot, ticket details) is large.
    let recorded: Option<Option<DateTime<Utc>>> = order_version::Entity::find()
        .select_only()
        .column(order_version::Column::AllDistributedAt)
        .filter(order_version::Column::OrderId.eq(order_id))
        .filter(order_version::Column::Version.eq(version))
        .filter(order_version::Column::EventType.eq("OrderConfirmed"))
        .into_tuple()
        .one(conn)
        .await?;
    if !matches!(recorded, Some(None)) {
        // Not a confirmed version, or reported before.
        return Ok(());
    }
    let groups: Vec<uuid::Uuid> = group_order_version::Entity::find()
        .select_only()
        .column(group_order_version::Column::GroupId)
        .filter(group_order_version::Column::OrderId.eq(order_id))
        .filter(group_order_version::Column::OrderVersion.eq(version))
        .order_by_asc(group_order_version::Column::GroupId)
        .into_tuple()
        .all(conn)
        .await?;
    if groups.is_empty() {
        return Ok(());
    }
    let tickets: Vec<(String, Option<DateTime<Utc>>)> = td::Entity::find()
        .select_only()
        .column(td::Column::Status)
        .column(td::Column::DistributedAt)
        .filter(td::Column::GroupId.is_in(groups.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    let all_in = tickets.iter().all(|(status, distributed_at)| {
        parse_status(status)
            .map(|s| {
                s.is_in_nod_or_beyond() || (s == TdStatus::Cancelled && distributed_at.is_some())
            })
            .unwrap_or(false)
    });
    if !all_in {
        return Ok(());
    }
    order_version::Entity::update_many()
        .col_expr(order_version::Column::AllDistributedAt, Expr::value(at))
        .filter(order_version::Column::OrderId.eq(order_id))
        .filter(order_version::Column::Version.eq(version))
        .filter(order_version::Column::EventType.eq("OrderConfirmed"))
        .exec(conn)
        .await?;
    let ids: Vec<TicketDistributionGroupId> =
        groups.into_iter().map(TicketDistributionGroupId).collect();
    events.order_version_event_for(
        u32::try_from(version).unwrap_or(0),
        "AllTicketDistributionGroupsForOrderVersionDistributed",
        &ids,
    );
    Ok(())
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

//! The one write path: record an order event and apply what its version calls for, in the
//! caller's transaction. Idempotent and out-of-order safe: a version that is not newer than
//! the latest one recorded changes nothing.

use crate::entity::{group, group_order_version, order, order_version, ticket_distribution as td};
use crate::outbox::EventBatch;
use crate::transition::{self, Change};
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use td_domain::generation::{plan_version, ExistingGroup, GeneratedGroup};
use td_domain::ids::{OrderId, TicketDistributionGroupId, TicketDistributionId};
use td_domain::order::{OrderEvent, OrderEventType, OrderStatus};
use td_domain::status::{CancelCause, TdStatus};
use td_events::{EventHeader, TicketDistributionGroupEvent as GroupEvent};

/// Where a command or event came from, recorded on what it creates.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub distribution_channel: Option<String>,
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The version was recorded and applied.
    Applied {
        order_version: u32,
        created: Vec<TicketDistributionGroupId>,
        kept: Vec<TicketDistributionGroupId>,
        cancelled: Vec<TicketDistributionId>,
    },
    /// This version (or a newer one) was recorded before; nothing changed.
    AlreadyRecorded { latest_version: u32 },
    /// A DRAFT order: nothing to record.
    Draft,
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Records `event` and generates, keeps and cancels groups as its version calls for.
/// The order must have passed `td_domain::validate`.
pub async fn record_order_event<C: ConnectionTrait>(
    conn: &C,
    event: &OrderEvent,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<RecordOutcome, StoreError> {
    let order = &event.order;
    let cancelled_event = event.kind == OrderEventType::OrderCancelled;
    if order.status == OrderStatus::Draft && !cancelled_event {
        return Ok(RecordOutcome::Draft);
    }
    // Built before anything is written: a version the event schema cannot hold is refused
    // with nothing recorded.
    let header = EventHeader::new(
        event.correlation_id.clone(),
        now,
        order.organisation_id.0,
        order.id.0.clone(),
        order.version,
    )?;
    let version = header.order_version();

    // Serialise all writes of one order on its row (PostgreSQL row lock; SQLite has a
    // single writer), which is also what keeps the outbox in commit order per order.
    order::Entity::insert(order::ActiveModel {
        order_id: Set(order.id.0.clone()),
        organisation_id: Set(order.organisation_id.0),
        latest_version: Set(0),
        latest_confirmed_version: Set(None),
        status: Set("NEW".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(order::Column::OrderId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    let row = order::Entity::find_by_id(order.id.0.clone())
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("order {} vanished", order.id)))?;

    if row.organisation_id != order.organisation_id.0 {
        return Err(StoreError::OtherOrganisation {
            order_id: order.id.0.clone(),
            recorded: row.organisation_id,
            received: order.organisation_id.0,
        });
    }

    let latest = u32::try_from(row.latest_version).unwrap_or(0);
    let already_cancelled = row.status == OrderStatus::Cancelled.as_str();
    let newer = order.version > latest;
    let cancels_current = cancelled_event && order.version == latest && !already_cancelled;
    if !(newer || cancels_current) {
        return Ok(RecordOutcome::AlreadyRecorded {
            latest_version: latest,
        });
    }

    let event_type = match event.kind {
        OrderEventType::OrderConfirmed => "OrderConfirmed",
        OrderEventType::OrderCancelled => "OrderCancelled",
    };
    order_version::Entity::insert(order_version::ActiveModel {
        order_id: Set(order.id.0.clone()),
        version: Set(version),
        event_type: Set(event_type.to_owned()),
        organisation_id: Set(order.organisation_id.0),
        status: Set(order.status.as_str().to_owned()),
        event_id: Set(event.event_id),
        correlation_id: Set(event.correlation_id.clone()),
        traceparent: Set(origin.traceparent.clone()),
        snapshot: Set(serde_json::to_value(order)?),
        recorded_at: Set(now),
        all_distributed_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;

    let existing = match row.latest_confirmed_version {
        Some(v) => load_existing(conn, &order.id, v).await?,
        None => Vec::new(),
    };
    let plan = plan_version(order, cancelled_event, &existing);

    let is_confirmed = order.status == OrderStatus::Confirmed && !cancelled_event;
    if is_confirmed {
        for kept in &plan.keep {
            attach_version(conn, &order.id, *kept, version).await?;
            group::Entity::update_many()
                .col_expr(group::Column::OrderVersion, version.into())
                .col_expr(group::Column::UpdatedAt, now.into())
                .filter(group::Column::Id.eq(kept.0))
                .exec(conn)
                .await?;
        }
        // A kept ticket's status answer now names this version: caches must drop the old one.
        let kept_tickets: Vec<TicketDistributionId> = existing
            .iter()
            .filter(|g| plan.keep.contains(&g.id))
            .flat_map(|g| g.distributions.iter().map(|(id, _)| *id))
            .collect();
        crate::notify::status_changed(conn, &kept_tickets).await?;
    }
    let mut events = EventBatch::new(header, origin.traceparent.clone(), now);
    let mut created = Vec::with_capacity(plan.create.len());
    let mut groups = Vec::with_capacity(plan.create.len());
    let mut attached = Vec::with_capacity(plan.create.len());
    let mut tickets = Vec::new();
    for generated in &plan.create {
        groups.push(group_row(version, event, origin, generated, now));
        attached.push(group_order_version::ActiveModel {
            group_id: Set(generated.id.0),
            order_version: Set(version),
            order_id: Set(order.id.0.clone()),
        });
        tickets.extend(ticket_rows(order, generated, now)?);
        events.push(GroupEvent::group_created(
            events.header(),
            generated.id.0,
            generated.order_line_id.0.clone(),
            generated.order_line_version,
            generated.distributions.iter().map(|d| d.id.0).collect(),
        )?)?;
        for d in &generated.distributions {
            events.push(GroupEvent::added(
                events.header(),
                generated.id.0,
                d.id.0,
                d.start_of_validity,
                d.end_of_validity,
                d.fare_product_ref.clone(),
            )?)?;
        }
        created.push(generated.id);
    }
    // One statement per table. Ids are derived from what they stand for, so a row that
    // exists already is the same row: keep it.
    crate::insert_in_chunks(
        conn,
        groups,
        Some(
            OnConflict::column(group::Column::Id)
                .do_nothing()
                .to_owned(),
        ),
    )
    .await?;
    crate::insert_in_chunks(
        conn,
        attached,
        Some(
            OnConflict::columns([
                group_order_version::Column::GroupId,
                group_order_version::Column::OrderVersion,
            ])
            .do_nothing()
            .to_owned(),
        ),
    )
    .await?;
    crate::insert_in_chunks(
        conn,
        tickets,
        Some(OnConflict::column(td::Column::Id).do_nothing().to_owned()),
    )
    .await?;

    let mut cancelled = Vec::with_capacity(plan.cancel.len());
    for (td_id, cause) in &plan.cancel {
        if cancel_distribution(conn, *td_id, *cause, now, &mut events).await? {
            cancelled.push(*td_id);
        }
    }

    if is_confirmed {
        let mut all: Vec<TicketDistributionGroupId> = plan.keep.clone();
        all.extend(created.iter().copied());
        crate::completion::generated(&mut events, &all)?;
        // A version that only keeps groups already in NOD is distributed as it is recorded.
        crate::completion::distributed_if_complete(conn, &order.id.0, version, now, &mut events)
            .await?;
    }
    events.write(conn).await?;

    let mut update = order::ActiveModel {
        order_id: Set(order.id.0.clone()),
        latest_version: Set(version.max(row.latest_version)),
        status: Set(if cancelled_event {
            OrderStatus::Cancelled.as_str().to_owned()
        } else {
            order.status.as_str().to_owned()
        }),
        updated_at: Set(now),
        ..Default::default()
    };
    if is_confirmed {
        update.latest_confirmed_version = Set(Some(version));
    }
    order::Entity::update(update).exec(conn).await?;

    Ok(RecordOutcome::Applied {
        order_version: order.version,
        created,
        kept: if is_confirmed { plan.keep } else { Vec::new() },
        cancelled,
    })
}

async fn attach_version<C: ConnectionTrait>(
    conn: &C,
    order_id: &OrderId,
    group_id: TicketDistributionGroupId,
    version: i32,
) -> Result<(), StoreError> {
    group_order_version::Entity::insert(group_order_version::ActiveModel {
        group_id: Set(group_id.0),
        order_version: Set(version),
        order_id: Set(order_id.0.clone()),
    })
    .on_conflict(
        OnConflict::columns([
            group_order_version::Column::GroupId,
            group_order_version::Column::OrderVersion,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn group_row(
    order_version: i32,
    event: &OrderEvent,
    origin: &Origin,
    generated: &GeneratedGroup,
    now: DateTime<Utc>,
) -> group::ActiveModel {
    let order = &event.order;
    let owner = order
        .contact_info
        .as_ref()
        .and_then(|c| c.contact.as_ref())
        .and_then(|c| c.customer_id.as_ref())
        .map(|c| c.0.clone());
    group::ActiveModel {
        id: Set(generated.id.0),
        order_id: Set(order.id.0.clone()),
        order_version: Set(order_version),
        order_line_id: Set(generated.order_line_id.0.clone()),
        order_line_version: Set(to_i32(generated.order_line_version)),
        updated_for_order_line_version: Set(to_i32(generated.order_line_version)),
        organisation_id: Set(order.organisation_id.0),
        order_owner_customer_id: Set(owner),
        distribution_holder_customer_id: Set(generated
            .distribution_holder_customer_id
            .as_ref()
            .map(|c| c.0.clone())),
        created_by_distribution_channel: Set(origin.distribution_channel.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn ticket_rows(
    order: &td_domain::Order,
    generated: &GeneratedGroup,
    now: DateTime<Utc>,
) -> Result<Vec<td::ActiveModel>, StoreError> {
    generated
        .distributions
        .iter()
        .enumerate()
        .map(|(position, d)| {
            Ok(td::ActiveModel {
                id: Set(d.id.0),
                group_id: Set(generated.id.0),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                order_id: Set(order.id.0.clone()),
                organisation_id: Set(order.organisation_id.0),
                status: Set(TdStatus::Generated.as_str().to_owned()),
                cancel_cause: Set(None),
                failure_reason: Set(None),
                start_of_validity: Set(d.start_of_validity),
                end_of_validity: Set(d.end_of_validity),
                fare_product_ref: Set(d.fare_product_ref.clone()),
                fare_product_name: Set(d.fare_product_name.clone()),
                user_profile_ref: Set(d.user_profile_ref.clone()),
                traveller_id: Set(d.traveller_id.as_ref().map(|t| t.0.clone())),
                details: Set(serde_json::to_value(&d.details)?),
                nod_order_group_id: Set(None),
                media_serial_number_id: Set(None),
                distributed_at: Set(None),
                picked_up_at: Set(None),
                distributed_as_pdf: Set(false),
                nod_enqueued_at: Set(None),
                nod_replace_requested: Set(false),
                nod_cancelled_at: Set(None),
                nod_place_attempted_at: Set(None),
                nod_placing_since: Set(None),
                nod_retry_at: Set(None),
                nod_unavailable: Set(false),
                nod_cancel_refused_at: Set(None),
                nod_cancel_refused_reason: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
        })
        .collect()
}

/// The groups of `version` with their tickets, as the planner needs them.
async fn load_existing<C: ConnectionTrait>(
    conn: &C,
    order_id: &OrderId,
    version: i32,
) -> Result<Vec<ExistingGroup>, StoreError> {
    let group_ids: Vec<uuid::Uuid> = group_order_version::Entity::find()
        .select_only()
        .column(group_order_version::Column::GroupId)
        .filter(group_order_version::Column::OrderId.eq(order_id.0.as_str()))
        .filter(group_order_version::Column::OrderVersion.eq(version))
        .into_tuple()
        .all(conn)
        .await?;
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let groups = group::Entity::find()
        .filter(group::Column::Id.is_in(group_ids.clone()))
        .order_by_asc(group::Column::CreatedAt)
        .order_by_asc(group::Column::OrderLineId)
        .all(conn)
        .await?;
    let tds = td::Entity::find()
        .filter(td::Column::GroupId.is_in(group_ids))
        .order_by_asc(td::Column::Position)
        .all(conn)
        .await?;
    groups
        .into_iter()
        .map(|g| {
            let distributions = tds
                .iter()
                .filter(|t| t.group_id == g.id)
                .map(|t| Ok((TicketDistributionId(t.id), t.status()?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(ExistingGroup {
                id: TicketDistributionGroupId(g.id),
                order_line_id: g.order_line_id.as_str().into(),
                order_line_version: u32::try_from(g.order_line_version).unwrap_or(0),
                distributions,
            })
        })
        .collect()
}

/// Applies the domain's Cancelled transition for `cause`; true when the ticket changed.
async fn cancel_distribution<C: ConnectionTrait>(
    conn: &C,
    id: TicketDistributionId,
    cause: CancelCause,
    now: DateTime<Utc>,
    events: &mut EventBatch,
) -> Result<bool, StoreError> {
    let Some(row) = td::Entity::find_by_id(id.0).one(conn).await? else {
        return Ok(false);
    };
    let change = Change::Cancelled { cause: Some(cause) };
    match transition::accept(&row, &change)? {
        Ok(accepted) => {
            accepted.write(conn, now, events).await?;
            Ok(true)
        }
        Err(refused) => {
            tracing::warn!(ticket_distribution_id = %id, %refused, "cancellation refused by the status machine");
            Ok(false)
        }
    }
}

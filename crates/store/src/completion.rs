//! Order-version milestones, decided here only: `…ForOrderVersionGenerated` when a
//! confirmed version is recorded (its groups exist), and `…ForOrderVersionDistributed` once
//! every ticket of a confirmed version is in NOD or beyond, once per version.

use crate::entity::{group_order_version, order_version, ticket_distribution as td};
use crate::outbox::EventBatch;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use td_domain::ids::TicketDistributionGroupId;
use td_domain::status::TdStatus;
use td_events::{
    AllTicketDistributionGroupsForOrderVersionCompletedEvent as Completed,
    AllTicketDistributionGroupsForOrderVersionCompletedEventType as Milestone,
};

/// Adds `…ForOrderVersionGenerated` for the batch's version, whose groups are `groups`.
pub(crate) fn generated(
    events: &mut EventBatch,
    groups: &[TicketDistributionGroupId],
) -> Result<(), StoreError> {
    let ids = groups.iter().map(|g| g.0).collect();
    let event = Completed::new(events.header(), Milestone::Generated, ids);
    events.push(event)?;
    Ok(())
}

/// Adds `…ForOrderVersionDistributed` for every confirmed version holding `group` whose
/// tickets are now all in NOD or beyond, once per version.
pub(crate) async fn distributed_versions_of_group<C: ConnectionTrait>(
    conn: &C,
    order_id: &str,
    group_id: uuid::Uuid,
    at: DateTime<Utc>,
    events: &mut EventBatch,
) -> Result<(), StoreError> {
    let versions: Vec<i32> = group_order_version::Entity::find()
        .filter(group_order_version::Column::GroupId.eq(group_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|g| g.order_version)
        .collect();
    for version in versions {
        distributed_if_complete(conn, order_id, version, at, events).await?;
    }
    Ok(())
}

/// Adds `…ForOrderVersionDistributed` for confirmed `version` of the order when every
/// ticket of its groups is in NOD or beyond and it was not reported before. Also called
/// when a version is recorded whose kept groups are all in NOD already.
pub(crate) async fn distributed_if_complete<C: ConnectionTrait>(
    conn: &C,
    order_id: &str,
    version: i32,
    at: DateTime<Utc>,
    events: &mut EventBatch,
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
        td::parse_status(status)
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
    // The version may be an earlier one than the batch's, when a change to a group it kept
    // completes it.
    let header = events
        .header()
        .for_version(u32::try_from(version).unwrap_or(0))?;
    events.push(Completed::new(&header, Milestone::Distributed, groups))?;
    Ok(())
}

//! What an operator's replay of quarantined work changes in PostgreSQL: parked outbox
//! events are un-parked (the relay publishes them next, in their order's place), parked NOD
//! feed entries are taken out once applied, and every replay is recorded by item id so
//! that replaying twice does nothing the second time.

use crate::entity::{nod_feed_quarantine, outbox, quarantine_replay};
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

/// Un-parks the parked, unpublished outbox event `event_id`; `false` when there is none
/// (never parked, already un-parked or published).
pub async fn unpark_outbox_event<C: ConnectionTrait>(
    conn: &C,
    event_id: uuid::Uuid,
) -> Result<bool, StoreError> {
    let result = outbox::Entity::update_many()
        .col_expr(
            outbox::Column::ParkedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            outbox::Column::ParkReason,
            Expr::value(Option::<String>::None),
        )
        .filter(outbox::Column::EventId.eq(event_id))
        .filter(outbox::Column::ParkedAt.is_not_null())
        .filter(outbox::Column::PublishedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The parked NOD feed entry `id`, if it is still parked.
pub async fn feed_entry<C: ConnectionTrait>(
    conn: &C,
    id: i64,
) -> Result<Option<nod_feed_quarantine::Model>, StoreError> {
    Ok(nod_feed_quarantine::Entity::find_by_id(id)
        .one(conn)
        .await?)
}

/// Takes the parked NOD feed entry `id` out of the quarantine (once it has been applied).
pub async fn remove_feed_entry<C: ConnectionTrait>(conn: &C, id: i64) -> Result<(), StoreError> {
    nod_feed_quarantine::Entity::delete_by_id(id)
        .exec(conn)
        .await?;
    Ok(())
}

/// The recorded replay of `item`, if it was replayed.
pub async fn replay_of<C: ConnectionTrait>(
    conn: &C,
    item: &str,
) -> Result<Option<quarantine_replay::Model>, StoreError> {
    Ok(quarantine_replay::Entity::find_by_id(item.to_owned())
        .one(conn)
        .await?)
}

/// Every recorded replay of items whose id starts with `prefix` (e.g. `dlq:`).
pub async fn replays<C: ConnectionTrait>(
    conn: &C,
    prefix: &str,
) -> Result<Vec<quarantine_replay::Model>, StoreError> {
    Ok(quarantine_replay::Entity::find()
        .filter(quarantine_replay::Column::Item.starts_with(prefix))
        .all(conn)
        .await?)
}

/// Records the replay of `item` (a later replay of the same item, parked again since,
/// replaces the record).
pub async fn record_replay<C: ConnectionTrait>(
    conn: &C,
    item: &str,
    stage: &str,
    outcome: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    quarantine_replay::Entity::insert(quarantine_replay::ActiveModel {
        item: Set(item.to_owned()),
        stage: Set(stage.to_owned()),
        outcome: Set(outcome.to_owned()),
        replayed_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(quarantine_replay::Column::Item)
            .update_columns([
                quarantine_replay::Column::Outcome,
                quarantine_replay::Column::ReplayedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

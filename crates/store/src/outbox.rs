//! The transactional outbox: lifecycle events are appended here in the same transaction as
//! the change they describe, and a relay publishes them in id order (per order, that is
//! commit order, because an order's writes are serialised on its `orders` row).
//!
//! What is appended is a `td_events::Event`, built by its typed constructors; the row's
//! payload is that event's JSON form, which the relay encodes with the Avro schema when it
//! publishes.
//!
//! An event that can never be published (its payload cannot be encoded, or the broker
//! refuses the message for what it is) is parked with its reason, and its order's later
//! events wait behind it, so per-order order holds while every other order flows.

use crate::entity::outbox;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use td_domain::ids::OrderId;
use td_events::{Event, EventHeader};

/// The events one transaction appends, written with one statement at the end (in the order
/// they were added, which is the order their ids and so their publishing follow).
pub struct EventBatch {
    header: EventHeader,
    traceparent: Option<String>,
    created_at: DateTime<Utc>,
    rows: Vec<outbox::ActiveModel>,
}

impl EventBatch {
    /// A batch of events about the order and version of `header`, written at `created_at`
    /// and continuing the trace `traceparent`.
    pub fn new(
        header: EventHeader,
        traceparent: Option<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            header,
            traceparent,
            created_at,
            rows: Vec::new(),
        }
    }

    /// What the batch's events share.
    pub fn header(&self) -> &EventHeader {
        &self.header
    }

    /// Appends `event`; returns its id.
    pub fn push(&mut self, event: impl Into<Event>) -> Result<uuid::Uuid, StoreError> {
        let event = event.into();
        let event_id = event.event_id();
        self.rows.push(outbox::ActiveModel {
            event_id: Set(event_id),
            topic: Set(event.topic().base().to_owned()),
            message_key: Set(self.header.order_id().to_owned()),
            event_type: Set(event.event_type().to_owned()),
            payload: Set(event.to_json()?),
            correlation_id: Set(self.header.correlation_id().map(str::to_owned)),
            traceparent: Set(self.traceparent.clone()),
            created_at: Set(self.created_at),
            published_at: Set(None),
            ..Default::default()
        });
        Ok(event_id)
    }

    /// Writes the events in the transaction `conn`.
    pub async fn write<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        crate::insert_in_chunks(conn, self.rows, None).await
    }
}

/// An order's events after a parked one of the same order wait behind it.
const NOT_BEHIND_A_PARKED_EVENT: &str = "NOT EXISTS (SELECT 1 FROM outbox AS parked \
     WHERE parked.message_key = outbox.message_key \
     AND parked.parked_at IS NOT NULL AND parked.published_at IS NULL \
     AND parked.id < outbox.id)";

/// The oldest events ready to be published, in publishing order: neither parked nor behind
/// a parked event of their order.
pub async fn unpublished<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<outbox::Model>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .filter(outbox::Column::ParkedAt.is_null())
        .filter(sea_orm::sea_query::Expr::cust(NOT_BEHIND_A_PARKED_EVENT))
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// When the oldest event still waiting to be published (parked ones aside) was written.
pub async fn oldest_unpublished_at<C: ConnectionTrait>(
    conn: &C,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .filter(outbox::Column::ParkedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .one(conn)
        .await?
        .map(|e| e.created_at))
}

/// Marks events as published.
pub async fn mark_published<C: ConnectionTrait>(
    conn: &C,
    ids: &[i64],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::PublishedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(outbox::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Parks the event `id`: it is not published, and its order's later events wait behind it.
pub async fn park<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::ParkedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .col_expr(
            outbox::Column::ParkReason,
            sea_orm::sea_query::Expr::value(reason),
        )
        .filter(outbox::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The parked events, oldest first.
pub async fn parked<C: ConnectionTrait>(conn: &C) -> Result<Vec<outbox::Model>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::ParkedAt.is_not_null())
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .all(conn)
        .await?)
}

/// Every event of an order, oldest first (for tests and diagnostics).
pub async fn events_of_order<C: ConnectionTrait>(
    conn: &C,
    order_id: &OrderId,
) -> Result<Vec<outbox::Model>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::MessageKey.eq(order_id.0.as_str()))
        .order_by_asc(outbox::Column::Id)
        .all(conn)
        .await?)
}

/// How many events wait to be published (parked ones aside; those behind them count).
pub async fn backlog<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .filter(outbox::Column::ParkedAt.is_null())
        .count(conn)
        .await?)
}

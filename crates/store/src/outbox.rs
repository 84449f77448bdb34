//! The transactional outbox: lifecycle events are appended here in the same transaction as
//! the change they describe, and a relay publishes them in id order (per order, that is
//! commit order, because an order's writes are serialised on its `orders` row).
//!
//! The payload is the event record of CONTRACT.md section 4 as JSON, field for field; the
//! relay encodes it with the Avro schema when it publishes.

use crate::entity::outbox;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{json, Map, Value};
use td_domain::ids::{OrderId, OrganisationId, TicketDistributionGroupId};
use uuid::Uuid;

pub const GROUP_EVENTS_TOPIC: &str = "ticket-distribution-group-events";
pub const ORDER_VERSION_COMPLETED_TOPIC: &str =
    "all-ticket-distribution-groups-for-order-version-completed";

/// What every event of one order version shares.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub organisation_id: OrganisationId,
    pub order_id: OrderId,
    pub order_version: u32,
}

/// Lower-cases the first letter: `TicketDistributionAdded` → `ticketDistributionAdded`.
fn payload_field(event_type: &str) -> String {
    let mut chars = event_type.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn base_payload(ctx: &EventContext, event_id: Uuid, event_type: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("eventId".into(), json!(event_id.to_string()));
    map.insert("type".into(), json!(event_type));
    map.insert("correlationId".into(), json!(ctx.correlation_id));
    map.insert(
        "timestamp".into(),
        json!(ctx
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    map.insert("organisationId".into(), json!(ctx.organisation_id.0));
    map.insert("orderId".into(), json!(ctx.order_id.0));
    map.insert("orderVersion".into(), json!(ctx.order_version));
    map
}

/// The events one transaction appends, written with one statement at the end (in the order
/// they were added, which is the order their ids and so their publishing follow).
pub struct EventBatch<'a> {
    ctx: &'a EventContext,
    rows: Vec<outbox::ActiveModel>,
}

impl<'a> EventBatch<'a> {
    pub fn new(ctx: &'a EventContext) -> Self {
        Self {
            ctx,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, topic: &str, event_id: Uuid, event_type: &str, payload: Map<String, Value>) {
        self.rows.push(outbox::ActiveModel {
            event_id: Set(event_id),
            topic: Set(topic.to_owned()),
            message_key: Set(self.ctx.order_id.0.clone()),
            event_type: Set(event_type.to_owned()),
            payload: Set(Value::Object(payload)),
            correlation_id: Set(self.ctx.correlation_id.clone()),
            traceparent: Set(self.ctx.traceparent.clone()),
            created_at: Set(self.ctx.timestamp),
            published_at: Set(None),
            ..Default::default()
        });
    }

    /// Adds a `TicketDistributionGroupEvent` whose `type` is `event_type` and whose
    /// matching payload field holds `body`.
    pub fn group_event(
        &mut self,
        group: TicketDistributionGroupId,
        event_type: &str,
        body: Value,
    ) -> Uuid {
        let event_id = Uuid::new_v4();
        let mut payload = base_payload(self.ctx, event_id, event_type);
        payload.insert(
            "ticketDistributionGroupId".into(),
            json!(group.0.to_string()),
        );
        payload.insert(payload_field(event_type), body);
        self.push(GROUP_EVENTS_TOPIC, event_id, event_type, payload);
        event_id
    }

    /// Adds an `All…ForOrderVersion…` event listing the version's groups.
    pub fn order_version_event(
        &mut self,
        event_type: &str,
        groups: &[TicketDistributionGroupId],
    ) -> Uuid {
        let event_id = Uuid::new_v4();
        let mut payload = base_payload(self.ctx, event_id, event_type);
        payload.insert(
            "ticketDistributionGroupIds".into(),
            json!(groups.iter().map(|g| g.0.to_string()).collect::<Vec<_>>()),
        );
        self.push(ORDER_VERSION_COMPLETED_TOPIC, event_id, event_type, payload);
        event_id
    }

    /// Adds an `All…ForOrderVersion…` event for `version` (which may differ from the
    /// context's, when a change to a kept group completes an earlier version too).
    pub fn order_version_event_for(
        &mut self,
        version: u32,
        event_type: &str,
        groups: &[TicketDistributionGroupId],
    ) -> Uuid {
        let event_id = self.order_version_event(event_type, groups);
        if let Some(last) = self.rows.last_mut() {
            if let sea_orm::ActiveValue::Set(Value::Object(payload)) = &mut last.payload {
                payload.insert("orderVersion".into(), json!(version));
            }
        }
        event_id
    }

    /// Writes the events in the transaction `conn`.
    pub async fn write<C: ConnectionTrait>(self, conn: &C) -> Result<(), StoreError> {
        crate::insert_in_chunks(conn, self.rows, None).await
    }
}

/// The oldest unpublished events, in publishing order.
pub async fn unpublished<C: ConnectionTrait>(
    conn: &C,
    limit: u64,
) -> Result<Vec<outbox::Model>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// When the oldest event still waiting to be published was written.
pub async fn oldest_unpublished_at<C: ConnectionTrait>(
    conn: &C,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
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

/// How many events wait to be published.
pub async fn backlog<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(conn)
        .await?)
}

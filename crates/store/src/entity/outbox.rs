use sea_orm::entity::prelude::*;

/// An event waiting to be published, written in the transaction of the change it describes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: Uuid,
    /// The topic's base name; the relay appends the environment suffix.
    pub topic: String,
    pub message_key: String,
    pub event_type: String,
    pub payload: Json,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// Set when the event can never be published; the order's later events wait behind it.
    pub parked_at: Option<DateTimeUtc>,
    /// Why the event was parked (the encoder's or the broker's error).
    #[sea_orm(column_type = "Text", nullable)]
    pub park_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

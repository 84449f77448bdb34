use sea_orm::entity::prelude::*;

/// The snapshot of each order event that was recorded.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "order_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_type: String,
    pub organisation_id: i64,
    pub status: String,
    pub event_id: Uuid,
    pub correlation_id: Option<String>,
    /// The W3C trace context of the intake that recorded it.
    pub traceparent: Option<String>,
    pub snapshot: Json,
    pub recorded_at: DateTimeUtc,
    /// When `AllTicketDistributionGroupsForOrderVersionDistributed` was written for it.
    pub all_distributed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

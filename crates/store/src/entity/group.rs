use sea_orm::entity::prelude::*;

/// A TicketDistributionGroup: one per order line version.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_distribution_groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: String,
    /// The latest order version the group belongs to.
    pub order_version: i32,
    pub order_line_id: String,
    pub order_line_version: i32,
    pub updated_for_order_line_version: i32,
    pub organisation_id: i64,
    pub order_owner_customer_id: Option<String>,
    pub distribution_holder_customer_id: Option<String>,
    pub created_by_distribution_channel: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

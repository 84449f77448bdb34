use sea_orm::entity::prelude::*;

/// A TicketDistribution: one ticket.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_distributions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub group_id: Uuid,
    /// Order within the group: segment by segment, MAIN products in order.
    pub position: i32,
    pub order_id: String,
    pub organisation_id: i64,
    pub status: String,
    pub cancel_cause: Option<String>,
    pub failure_reason: Option<String>,
    pub start_of_validity: DateTimeUtc,
    pub end_of_validity: DateTimeUtc,
    pub fare_product_ref: String,
    pub fare_product_name: Option<String>,
    pub user_profile_ref: Option<String>,
    pub traveller_id: Option<String>,
    /// `td_domain::DistributionDetails` as JSON.
    pub details: Json,
    pub nod_order_group_id: Option<String>,
    pub media_serial_number_id: Option<String>,
    pub distributed_at: Option<DateTimeUtc>,
    pub picked_up_at: Option<DateTimeUtc>,
    pub distributed_as_pdf: bool,
    /// When a NOD job (placement, or cancellation of a cancelled ticket) was last enqueued.
    pub nod_enqueued_at: Option<DateTimeUtc>,
    /// A FAILED ticket asked to be placed again.
    pub nod_replace_requested: bool,
    /// When NOD confirmed the cancellation of a ticket cancelled here.
    pub nod_cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

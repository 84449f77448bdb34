use sea_orm::entity::prelude::*;

/// One e-mail send of PDF tickets.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pdf_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: String,
    pub organisation_id: i64,
    pub email_address: String,
    /// The address as the send limits compare it (normalised by the gateway).
    pub address_key: String,
    pub language: String,
    /// The tickets sent, as a JSON array of ids.
    pub ticket_distribution_ids: Json,
    /// QUEUED, SENDING, SENT or FAILED.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub smtp_queue_id: Option<String>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The W3C trace context of the request that asked for the send.
    pub traceparent: Option<String>,
    pub enqueued_at: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

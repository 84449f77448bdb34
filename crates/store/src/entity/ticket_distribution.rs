use sea_orm::entity::prelude::*;
use td_domain::status::{CancelCause, TdStatus, Validity};

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
    /// When the first placement call was about to be made: from then on the ticket may be in
    /// NOD even without a `nod_order_group_id` (the answer may have been lost).
    pub nod_place_attempted_at: Option<DateTimeUtc>,
    /// When the current placement effort began (backoff and horizon count from it).
    pub nod_placing_since: Option<DateTimeUtc>,
    /// Not due for a NOD job before this (NOD was unavailable; backoff).
    pub nod_retry_at: Option<DateTimeUtc>,
    /// FAILED because NOD stayed unavailable past the horizon: placed again automatically.
    pub nod_unavailable: bool,
    /// When NOD refused, for good, to cancel the ticket, and why.
    pub nod_cancel_refused_at: Option<DateTimeUtc>,
    pub nod_cancel_refused_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The status column, parsed: the one place a stored status string is read.
    pub fn status(&self) -> Result<TdStatus, crate::StoreError> {
        parse_status(&self.status)
    }

    /// The cause of a cancellation by this service, when it is one the domain knows.
    pub fn cancel_cause(&self) -> Option<CancelCause> {
        self.cancel_cause.as_deref().and_then(|c| c.parse().ok())
    }

    /// The validity answer for this ticket (CONTRACT.md section 1), given whether its group
    /// belongs to the order's latest confirmed version.
    pub fn validity(
        &self,
        in_latest_confirmed_version: bool,
        now: DateTimeUtc,
    ) -> Result<Validity, crate::StoreError> {
        Ok(td_domain::status::validity(
            self.status()?,
            self.cancel_cause(),
            in_latest_confirmed_version,
            self.end_of_validity,
            now,
        ))
    }

    /// Whether a NOD job should place this ticket now.
    pub fn needs_placement(&self) -> Result<bool, crate::StoreError> {
        Ok(td_domain::status::needs_placement(
            self.status()?,
            self.nod_replace_requested || self.nod_unavailable,
        ))
    }
}

/// A status string read from the `status` column (alone, when only some columns are read).
pub fn parse_status(s: &str) -> Result<TdStatus, crate::StoreError> {
    s.parse::<TdStatus>()
        .map_err(|_| crate::StoreError::Corrupt(format!("unknown ticket status `{s}`")))
}

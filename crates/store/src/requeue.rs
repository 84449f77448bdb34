//! A caller's request that FAILED tickets be placed in NOD again. One UPDATE marks them; the
//! NOD dispatcher (`nod::due_jobs`) then finds them due like any other ticket waiting for a
//! job, so whoever records the request needs no line to nod-distributor. Other tickets are
//! left alone.

use crate::entity::ticket_distribution as td;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use td_domain::ids::{OrganisationId, TicketDistributionGroupId};
use td_domain::status::TdStatus;

/// Marks the FAILED tickets of `groups` (of `organisation`, when given) for placement
/// again, as not enqueued yet; returns how many.
pub async fn requeue_failed<C: ConnectionTrait>(
    conn: &C,
    groups: &[TicketDistributionGroupId],
    organisation: Option<OrganisationId>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    if groups.is_empty() {
        return Ok(0);
    }
    let mut update = td::Entity::update_many()
        .col_expr(td::Column::NodReplaceRequested, Expr::value(true))
        .col_expr(
            td::Column::NodEnqueuedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(td::Column::UpdatedAt, Expr::value(now))
        .filter(td::Column::GroupId.is_in(groups.iter().map(|g| g.0)))
        .filter(td::Column::Status.eq(TdStatus::Failed.as_str()));
    if let Some(org) = organisation {
        update = update.filter(td::Column::OrganisationId.eq(org.0));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

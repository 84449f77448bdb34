//! Change notifications for caches. On PostgreSQL a status change issues `pg_notify` inside
//! its transaction; PostgreSQL delivers it only when (and if) the transaction commits, so a
//! cache that listens can never miss a committed change or see an uncommitted one. Other
//! backends have no listeners (the embedded default reads status without a cache).

use crate::StoreError;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use td_domain::ids::TicketDistributionId;

/// The channel that carries the ids of tickets whose status changed.
pub const STATUS_CHANNEL: &str = "td_status_changed";

pub async fn status_changed<C: ConnectionTrait>(
    conn: &C,
    ids: &[TicketDistributionId],
) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres || ids.is_empty() {
        return Ok(());
    }
    // One notification per ticket keeps the payload far below PostgreSQL's 8000-byte limit.
    for id in ids {
        conn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [STATUS_CHANNEL.into(), id.0.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}

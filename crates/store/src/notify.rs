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

/// The channel that carries the ids of orders whose events were just recorded (comma
/// separated), for those waiting for an order's tickets to exist.
pub const ORDERS_CHANNEL: &str = "td_orders_recorded";

/// What a waiter hears: an order id, or [`EVERY_ORDER`] when notifications may have been
/// missed and every waiter should look again.
pub const EVERY_ORDER: &str = "*";

/// PostgreSQL's limit on a notification payload is 8000 bytes; stay below it.
const MAX_PAYLOAD: usize = 7_000;

/// Announces, inside the recording transaction, that these orders' events were recorded:
/// a few `pg_notify` calls for the whole batch, delivered when the transaction commits.
/// Other backends announce in process with [`announce_locally`] after the commit.
pub async fn orders_recorded<C: ConnectionTrait>(
    conn: &C,
    order_ids: &[&str],
) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres || order_ids.is_empty() {
        return Ok(());
    }
    let mut payload = String::new();
    for id in order_ids {
        if !payload.is_empty() && payload.len() + id.len() + 1 > MAX_PAYLOAD {
            notify(conn, ORDERS_CHANNEL, &payload).await?;
            payload.clear();
        }
        if id.len() + 1 > MAX_PAYLOAD || id.contains(',') {
            // Cannot be carried as itself: ask every waiter to look again.
            notify(conn, ORDERS_CHANNEL, EVERY_ORDER).await?;
            continue;
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(id);
    }
    if !payload.is_empty() {
        notify(conn, ORDERS_CHANNEL, &payload).await?;
    }
    Ok(())
}

async fn notify<C: ConnectionTrait>(
    conn: &C,
    channel: &str,
    payload: &str,
) -> Result<(), StoreError> {
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// The in-process announcement of recorded orders, for a process that records and waits
/// itself (the embedded default on SQLite). Call after the commit.
pub fn announce_locally(order_ids: &[&str]) {
    let tx = local_orders();
    if tx.receiver_count() == 0 {
        return;
    }
    for id in order_ids {
        let _ = tx.send(std::sync::Arc::from(*id));
    }
}

/// Subscribes to the in-process announcements.
pub fn local_orders() -> &'static tokio::sync::broadcast::Sender<std::sync::Arc<str>> {
    static LOCAL: std::sync::OnceLock<tokio::sync::broadcast::Sender<std::sync::Arc<str>>> =
        std::sync::OnceLock::new();
    LOCAL.get_or_init(|| tokio::sync::broadcast::channel(4096).0)
}

//! Persistence through sea-orm: entities, migrations that run on PostgreSQL and SQLite
//! alike, the one write path that records an order version and generates its groups, the
//! query model behind the REST API, and the transactional outbox of typed `td-events`
//! events. A ticket's status changes in `transition` only, and order-version milestones are
//! decided in `completion` only. Repository functions take the connection or transaction
//! they run in; callers own transaction boundaries. The rules (what to generate, which
//! transition is allowed, what needs placing in NOD) come from `td-domain`, never from here.

mod completion;
pub mod entity;
mod error;
pub mod mail;
pub mod migration;
pub mod nod;
pub mod notify;
pub mod outbox;
pub mod pdf;
pub mod quarantine;
pub mod query;
pub mod record;
mod transition;

pub use error::StoreError;
pub use sea_orm;
pub use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};

use sea_orm::{ConnectOptions, Database};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

/// Rows inserted per statement: far below PostgreSQL's limit of 65,535 bind parameters for
/// the widest table, and few statements for a large order.
const INSERT_CHUNK: usize = 500;

/// Inserts `rows` with as few statements as the parameter limit allows, in their order;
/// with `on_conflict`, rows that exist already are handled as it says.
pub(crate) async fn insert_in_chunks<C, A>(
    conn: &C,
    rows: Vec<A>,
    on_conflict: Option<sea_orm::sea_query::OnConflict>,
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
    A: sea_orm::ActiveModelTrait + Send,
    <A::Entity as sea_orm::EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(INSERT_CHUNK).collect();
        let mut insert = <A::Entity as sea_orm::EntityTrait>::insert_many(chunk);
        if let Some(on_conflict) = &on_conflict {
            insert = insert.on_conflict(on_conflict.clone());
        }
        insert.exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Begins a transaction that holds the advisory lock `key` (see [`try_exclusive`]); `None`
/// when another transaction holds it, so that replicas take turns at work that must not
/// run twice at once (dispatching jobs, following a feed, relaying the outbox).
pub async fn begin_exclusive(
    db: &DatabaseConnection,
    key: i64,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    let txn = db.begin().await?;
    Ok(try_exclusive(&txn, key).await?.then_some(txn))
}

/// Takes a transaction-scoped advisory lock without waiting: true when this transaction
/// holds it (until commit or rollback), false when another holds it. Replicas use it to
/// take turns at work that must not run twice at once. SQLite has a single writer and a
/// single process, so there it is always held.
pub async fn try_exclusive<C: ConnectionTrait>(txn: &C, key: i64) -> Result<bool, DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(true);
    }
    let row = txn
        .query_one(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [key.into()],
        ))
        .await?;
    match row {
        Some(r) => r.try_get("", "locked"),
        None => Ok(false),
    }
}

/// Connects to the database at `url` and, when `migrate` (a worker passes the
/// `database.migrate_on_start` setting), applies the missing migrations, replicas taking
/// turns under a database lock.
pub async fn open(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
    migrate: bool,
) -> Result<DatabaseConnection, StoreError> {
    open_with_statement_timeout(url, max_connections, connect_timeout, migrate, None).await
}

/// As [`open`], and on PostgreSQL every statement of the pool's connections is cancelled
/// after `statement_timeout` (the gateway's bound on what one request may cost the
/// database). A cancelled statement is a transient error: the caller answers 503.
pub async fn open_with_statement_timeout(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
    migrate: bool,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, StoreError> {
    if migrate && statement_timeout.is_some() {
        // Migrations may take longer than a request's bound: they run on a connection
        // without it.
        let db = connect(url, 1, connect_timeout, None).await?;
        self::migrate(&db).await?;
        db.close().await?;
    }
    let db = connect(url, max_connections, connect_timeout, statement_timeout).await?;
    if migrate && statement_timeout.is_none() {
        self::migrate(&db).await?;
    }
    Ok(db)
}

/// Opens a pool. SQLite gets one connection: it has one writer anyway, and a single
/// connection avoids "database is locked" between a reader upgrading to a writer.
pub async fn connect(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    if let Some(timeout) = statement_timeout {
        let ms = timeout.as_millis().max(1).to_string();
        options.map_sqlx_postgres_opts(move |pg| pg.options([("statement_timeout", ms.as_str())]));
    }
    let sqlite = url.starts_with("sqlite:");
    options
        .max_connections(if sqlite { 1 } else { max_connections })
        .min_connections(if sqlite { 1 } else { 1.min(max_connections) })
        .connect_timeout(connect_timeout)
        .acquire_timeout(connect_timeout)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )
        .await?;
    }
    Ok(db)
}

/// Applies pending migrations. In production the migration Job runs this once; workers only
/// check that the schema is current.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        // PostgreSQL runs DDL in transactions: hold a transaction-scoped advisory lock so
        // that two replicas starting together apply each migration once.
        let txn = db.begin().await?;
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7346021)")
            .await?;
        migration::Migrator::up(&txn, None).await?;
        txn.commit().await?;
    } else {
        migration::Migrator::up(db, None).await?;
    }
    Ok(())
}

/// Whether the database answers; used by readiness probes.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await?;
    Ok(())
}

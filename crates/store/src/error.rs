#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A lifecycle event could not be built: a value the event schema cannot hold (an
    /// order version above 2147483647, a year past 9999). Nothing of the change is kept.
    #[error("the lifecycle event cannot be written: {0}")]
    Event(#[from] td_events::EventError),
    /// An order belongs to the organisation its first recorded version names; an event
    /// naming another one is refused with nothing written, so it cannot touch the first
    /// organisation's tickets.
    #[error("order {order_id} belongs to organisation {recorded} (fixed by its first version); this event names organisation {received}")]
    OtherOrganisation {
        order_id: String,
        recorded: i64,
        received: i64,
    },
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}

impl StoreError {
    /// Whether retrying the same work may succeed: the database failed or could not be
    /// reached. Every other error is about the data itself (a corrupt row, a value an event
    /// cannot hold, another organisation's order) and repeats as long as that data does.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Db(_))
    }

    /// Whether the database could not be reached or had no connection to spare (the pool
    /// is exhausted): a caller is told to retry shortly, not that the service failed.
    pub fn is_unreachable(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let runtime = |err: &RuntimeErr| match err {
            RuntimeErr::SqlxError(e) => matches!(
                e,
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::Tls(_)
            ),
            RuntimeErr::Internal(_) => false,
        };
        match self {
            Self::Db(DbErr::ConnectionAcquire(_)) => true,
            Self::Db(DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e)) => runtime(e),
            _ => false,
        }
    }

    /// Whether the database refused the data itself: a value it cannot store (PostgreSQL's
    /// data exceptions, class 22, such as a NUL character in text), a value too large for
    /// an index row (class 54), or a broken constraint other than a duplicate key (which
    /// two replicas racing for one order can cause, and a retry resolves). The same data
    /// is refused again on every retry, so whoever sent it must be told instead.
    pub fn is_refused_data(&self) -> bool {
        use sea_orm::sqlx::error::ErrorKind;
        let Some(e) = self.database_error() else {
            return false;
        };
        match e.kind() {
            ErrorKind::UniqueViolation => false,
            ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation => true,
            _ => {
                let code = e.code().unwrap_or_default();
                // PostgreSQL's SQLSTATE classes; SQLite's "string or blob too big" (18)
                // and "datatype mismatch" (20).
                code.starts_with("22") || code.starts_with("54") || code == "18" || code == "20"
            }
        }
    }

    /// Whether PostgreSQL cancelled the statement because it ran past the pool's
    /// `statement_timeout` (SQLSTATE 57014): the request was too costly for now.
    pub fn is_statement_timeout(&self) -> bool {
        self.database_error()
            .is_some_and(|e| e.code().as_deref() == Some("57014"))
    }

    /// The error the database itself answered a statement with, if that is what this is.
    fn database_error(&self) -> Option<&dyn sea_orm::sqlx::error::DatabaseError> {
        use sea_orm::{DbErr, RuntimeErr};
        match self {
            Self::Db(
                DbErr::Exec(RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e)))
                | DbErr::Query(RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e))),
            ) => Some(e.as_ref()),
            _ => None,
        }
    }
}

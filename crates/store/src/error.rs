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
}

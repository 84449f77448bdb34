//! NOD, the national order database, as this service sees it (CONTRACT.md section 5): the
//! `Nod` trait with the back-office operations ticket distribution needs (place an order
//! group, cancel it, read it, follow the transaction feed), `NodClient` that speaks the
//! JSON-over-HTTP API with timeouts and retries, and `Simulator`, an in-memory NOD that
//! serves the same API (plus a travel app's pickup and activation, outside cancellation,
//! expiry and fault injection) for local runs and tests. The simulator also implements
//! `Nod` directly, for the embedded default that runs without HTTP; one contract suite
//! runs against both implementations so they cannot drift apart.
//!
//! This crate moves order groups in and out of NOD. It does not know ticket distributions
//! or their statuses: mapping NOD's answers onto the ticket status machine is the
//! distributor's job.

mod client;
mod clock;
mod error;
mod model;
mod simulator;

pub use client::{NodClient, NodClientSettings, RetrySettings};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ClientBuildError, NodError, Transient};
pub use model::{
    Cursor, Order, OrderGroup, OrderGroupId, OrderGroupState, OrderType, PlaceRequest, Transaction,
    TransactionKind,
};
pub use simulator::{Faults, RunningSimulator, Simulator, SimulatorError};

use futures::future::BoxFuture;

/// The NOD back office. Every operation is idempotent, so a caller that lost an answer may
/// simply ask again.
pub trait Nod: Send + Sync {
    /// Places one ticket distribution as one order group. Placing the same
    /// `client_reference` again returns the group placed first, whatever state it is in.
    fn place<'a>(
        &'a self,
        request: &'a PlaceRequest,
    ) -> BoxFuture<'a, Result<OrderGroup, NodError>>;

    /// Cancels an order group. A group that is already over (cancelled or expired) is
    /// returned as it is, so the caller reads from `state` what the group ended as.
    fn cancel<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>>;

    fn get<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>>;

    /// Up to `limit` feed entries after `after` (from the start when `None`), oldest first.
    /// Reading the same range again gives the same entries; an empty answer means the
    /// caller is up to date.
    fn transactions<'a>(
        &'a self,
        after: Option<&'a Cursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Transaction>, NodError>>;
}

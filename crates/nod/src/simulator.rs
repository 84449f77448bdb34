//! An in-memory NOD for local runs and tests. `Simulator` holds the state and implements
//! `Nod` directly (the embedded default, no HTTP); `serve`/`start` put the whole HTTP API
//! of CONTRACT.md section 5 in front of the same state. Expiry is applied before every
//! read or change, against the simulator's `Clock`: the feed and the group reads are the
//! only ways to observe it, so no background timer is needed and tests move time by hand.
//!
//! Faults are injected only on the HTTP back-office routes; the in-process `Nod` has no
//! network to fail.

mod faults;
mod http;
mod state;

pub use faults::Faults;
pub use http::RunningSimulator;

use crate::clock::{Clock, SystemClock};
use crate::error::NodError;
use crate::model::{
    Cursor, OrderGroup, OrderGroupId, OrderGroupState, PlaceRequest, Transaction, TransactionKind,
};
use crate::Nod;
use futures::future::BoxFuture;
use state::State;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Why the simulator refused a request; maps onto an HTTP status and a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulatorError {
    #[error("{0}")]
    Invalid(String),
    #[error("order group {0} does not exist")]
    NotFound(OrderGroupId),
    #[error("order group is {state:?}; it cannot become {to:?}")]
    Conflict {
        state: OrderGroupState,
        to: OrderGroupState,
    },
}

impl SimulatorError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::NotFound(_) => 404,
            Self::Conflict { .. } => 409,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "INVALID_REQUEST",
            Self::NotFound(_) => crate::model::ORDER_GROUP_NOT_FOUND,
            Self::Conflict { .. } => "INVALID_TRANSITION",
        }
    }
}

/// The same mapping `NodClient` applies to the HTTP answers, so both `Nod`s fail alike.
impl From<SimulatorError> for NodError {
    fn from(err: SimulatorError) -> Self {
        match err {
            SimulatorError::NotFound(id) => NodError::NotFound { id },
            other => NodError::Rejected {
                status: other.status(),
                code: other.code().to_owned(),
                message: other.to_string(),
            },
        }
    }
}

/// A simulated NOD. Clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    requests: Mutex<BTreeMap<String, u64>>,
}

/// Every critical section is a few map operations that cannot leave the state half done,
/// so a panic elsewhere while holding a lock does not make the state unusable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulator {
    /// An empty simulator on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                state: Mutex::default(),
                faults: Mutex::default(),
                requests: Mutex::default(),
            }),
        }
    }

    /// Runs `f` on the state after expiring what is due, under one lock.
    fn with_state<T>(&self, f: impl FnOnce(&mut State, chrono::DateTime<chrono::Utc>) -> T) -> T {
        let now = self.inner.clock.now();
        let mut state = lock(&self.inner.state);
        state.expire_due(now);
        f(&mut state, now)
    }

    /// Places a group; the flag says whether it is new (201) or found by reference (200).
    pub(crate) fn place_group(
        &self,
        request: &PlaceRequest,
    ) -> Result<(OrderGroup, bool), SimulatorError> {
        state::validate(request)?;
        self.with_state(|state, now| {
            let (id, created) = state.place(request, now);
            // A validity that already ended expires at once rather than on the next read.
            state.expire_due(now);
            Ok((state.get(&id)?.clone(), created))
        })
    }

    pub(crate) fn cancel_group(&self, id: &OrderGroupId) -> Result<OrderGroup, SimulatorError> {
        self.with_state(|state, now| {
            state.cancel(id, now)?;
            state.get(id).cloned()
        })
    }

    pub(crate) fn read_group(&self, id: &OrderGroupId) -> Result<OrderGroup, SimulatorError> {
        self.with_state(|state, _| state.get(id).cloned())
    }

    pub(crate) fn read_feed(
        &self,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Transaction>, SimulatorError> {
        self.with_state(|state, _| state.feed(after, limit))
    }

    fn change(
        &self,
        id: &OrderGroupId,
        from: &[OrderGroupState],
        kind: TransactionKind,
    ) -> Result<OrderGroup, SimulatorError> {
        self.with_state(|state, now| {
            state.transition(id, from, kind, now)?;
            state.get(id).cloned()
        })
    }

    /// A travel app downloads the ticket: only a freshly distributed group.
    pub fn pickup(&self, id: &OrderGroupId) -> Result<OrderGroup, SimulatorError> {
        use OrderGroupState::*;
        self.change(id, &[Distributed], TransactionKind::PickedUp)
    }

    /// The traveller activates a picked-up ticket.
    pub fn activate(&self, id: &OrderGroupId) -> Result<OrderGroup, SimulatorError> {
        use OrderGroupState::*;
        self.change(id, &[PickedUp], TransactionKind::Activated)
    }

    /// Someone other than this service cancels a live group (customer service, the
    /// operator); it shows in the feed so the service can notice.
    pub fn cancel_outside(&self, id: &OrderGroupId) -> Result<OrderGroup, SimulatorError> {
        use OrderGroupState::*;
        self.change(
            id,
            &[Distributed, PickedUp, Activated],
            TransactionKind::Cancelled,
        )
    }

    /// Every order group the simulator holds, oldest first: what a test compares with the
    /// tickets it expects in NOD (one group per client reference, live or not).
    pub fn order_groups(&self) -> Vec<OrderGroup> {
        self.with_state(|state, _| state.all())
    }

    /// Replaces the faults in force on the HTTP back-office routes.
    pub fn set_faults(&self, faults: Faults) -> Result<(), SimulatorError> {
        faults.validate().map_err(SimulatorError::Invalid)?;
        *lock(&self.inner.faults) = faults;
        Ok(())
    }

    /// The faults in force, counters as far as they are used up.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    fn draw_fault(&self) -> (std::time::Duration, Option<faults::Injected>) {
        let mut faults = lock(&self.inner.faults);
        (faults.latency(), faults.draw())
    }

    fn count_request(&self, route: String) {
        *lock(&self.inner.requests).entry(route).or_default() += 1;
    }

    /// How many HTTP requests arrived for a route, named as method and path pattern, e.g.
    /// `POST /backoffice/order-groups`. Counted on arrival, before any injected fault, so
    /// tests can tell how many attempts a client made.
    pub fn request_count(&self, route: &str) -> u64 {
        lock(&self.inner.requests).get(route).copied().unwrap_or(0)
    }

    /// Every route's request count.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.requests).clone()
    }
}

impl Nod for Simulator {
    fn place<'a>(
        &'a self,
        request: &'a PlaceRequest,
    ) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(async move { Ok(self.place_group(request)?.0) })
    }

    fn cancel<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(async move { Ok(self.cancel_group(id)?) })
    }

    fn get<'a>(&'a self, id: &'a OrderGroupId) -> BoxFuture<'a, Result<OrderGroup, NodError>> {
        Box::pin(async move { Ok(self.read_group(id)?) })
    }

    fn transactions<'a>(
        &'a self,
        after: Option<&'a Cursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Transaction>, NodError>> {
        Box::pin(async move { Ok(self.read_feed(after, limit)?) })
    }
}

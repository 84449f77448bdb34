//! The simulated NOD's books: order groups, the client-reference index and the feed. Plain
//! data and functions of `now`; the caller holds the lock and reads the clock.

use super::SimulatorError;
use crate::model::{
    Cursor, OrderGroup, OrderGroupId, OrderGroupState, PlaceRequest, Transaction, TransactionKind,
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

const MAX_CLIENT_REFERENCE: usize = 200;
const MAX_ORDERS: usize = 50;
pub(crate) const DEFAULT_FEED_LIMIT: u32 = 100;
pub(crate) const MAX_FEED_LIMIT: u32 = 1_000;

#[derive(Default)]
pub(crate) struct State {
    groups: HashMap<OrderGroupId, OrderGroup>,
    by_reference: HashMap<String, OrderGroupId>,
    /// Live groups by the end of their validity, so expiry looks at the due ones only.
    live_until: BTreeSet<(DateTime<Utc>, OrderGroupId)>,
    /// Entry i has the cursor of sequence i + 1.
    feed: Vec<Transaction>,
}

/// Refuses what real NOD would refuse, with a message that says what to fix.
pub(crate) fn validate(request: &PlaceRequest) -> Result<(), SimulatorError> {
    let invalid = |m: &str| Err(SimulatorError::Invalid(m.to_owned()));
    if request.client_reference.trim().is_empty() {
        return invalid("clientReference must not be empty");
    }
    if request.client_reference.len() > MAX_CLIENT_REFERENCE {
        return invalid("clientReference must be at most 200 characters");
    }
    if request.orders.is_empty() || request.orders.len() > MAX_ORDERS {
        return invalid("orders must hold between 1 and 50 orders");
    }
    for (i, order) in request.orders.iter().enumerate() {
        let decoded = base64::engine::general_purpose::STANDARD.decode(&order.description);
        if !matches!(decoded, Ok(bytes) if !bytes.is_empty()) {
            return Err(SimulatorError::Invalid(format!(
                "orders[{i}].description must be non-empty standard base64"
            )));
        }
    }
    if request.valid_to <= request.valid_from {
        return invalid("validTo must be after validFrom");
    }
    Ok(())
}

impl State {
    /// Expires every live group whose validity ended at or before `now`.
    pub(crate) fn expire_due(&mut self, now: DateTime<Utc>) {
        while let Some((until, id)) = self.live_until.first().cloned() {
            if until > now {
                break;
            }
            self.live_until.pop_first();
            self.record(
                &id,
                OrderGroupState::Expired,
                Some(TransactionKind::Expired),
                now,
            );
        }
    }

    /// Places a group, or finds the one placed before under the same reference. The flag
    /// says whether it is new.
    pub(crate) fn place(
        &mut self,
        request: &PlaceRequest,
        now: DateTime<Utc>,
    ) -> (OrderGroupId, bool) {
        if let Some(id) = self.by_reference.get(&request.client_reference) {
            return (id.clone(), false);
        }
        let id = OrderGroupId::new(uuid::Uuid::new_v4().to_string());
        let group = OrderGroup {
            id: id.clone(),
            client_reference: request.client_reference.clone(),
            state: OrderGroupState::Distributed,
            orders: request.orders.clone(),
            valid_from: request.valid_from,
            valid_to: request.valid_to,
            created_at: now,
            updated_at: now,
        };
        self.by_reference
            .insert(group.client_reference.clone(), id.clone());
        self.live_until.insert((group.valid_to, id.clone()));
        self.groups.insert(id.clone(), group);
        (id, true)
    }

    /// Every order group, oldest first.
    pub(crate) fn all(&self) -> Vec<OrderGroup> {
        let mut groups: Vec<OrderGroup> = self.groups.values().cloned().collect();
        groups.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        groups
    }

    pub(crate) fn get(&self, id: &OrderGroupId) -> Result<&OrderGroup, SimulatorError> {
        self.groups
            .get(id)
            .ok_or_else(|| SimulatorError::NotFound(id.clone()))
    }

    /// The back office's own cancellation: answered to the caller, so not in the feed.
    /// A group already over stays as it is.
    pub(crate) fn cancel(
        &mut self,
        id: &OrderGroupId,
        now: DateTime<Utc>,
    ) -> Result<(), SimulatorError> {
        if self.get(id)?.state.is_live() {
            self.end(id, OrderGroupState::Cancelled, None, now);
        }
        Ok(())
    }

    /// A change NOD sees from outside (travel app, customer service), recorded in the
    /// feed. Refused unless the group is in one of the states `from`.
    pub(crate) fn transition(
        &mut self,
        id: &OrderGroupId,
        from: &[OrderGroupState],
        kind: TransactionKind,
        now: DateTime<Utc>,
    ) -> Result<(), SimulatorError> {
        let state = self.get(id)?.state;
        let to = match kind {
            TransactionKind::PickedUp => OrderGroupState::PickedUp,
            TransactionKind::Activated => OrderGroupState::Activated,
            TransactionKind::Cancelled => OrderGroupState::Cancelled,
            TransactionKind::Expired => OrderGroupState::Expired,
        };
        if !from.contains(&state) {
            return Err(SimulatorError::Conflict { state, to });
        }
        if to.is_live() {
            self.record(id, to, Some(kind), now);
        } else {
            self.end(id, to, Some(kind), now);
        }
        Ok(())
    }

    pub(crate) fn feed(
        &self,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<Transaction>, SimulatorError> {
        if limit == 0 || limit > MAX_FEED_LIMIT {
            return Err(SimulatorError::Invalid(format!(
                "limit must be between 1 and {MAX_FEED_LIMIT}"
            )));
        }
        let start = match after {
            None => 0,
            Some(cursor) => cursor.sequence().ok_or_else(|| {
                SimulatorError::Invalid(format!("after: {cursor:?} is not a cursor of this feed"))
            })?,
        };
        // A cursor past the end (not issued yet) reads as "nothing new", like the end.
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.feed.len());
        let end = start.saturating_add(limit as usize).min(self.feed.len());
        Ok(self.feed[start..end].to_vec())
    }

    fn end(
        &mut self,
        id: &OrderGroupId,
        to: OrderGroupState,
        kind: Option<TransactionKind>,
        now: DateTime<Utc>,
    ) {
        if let Some(group) = self.groups.get(id) {
            self.live_until.remove(&(group.valid_to, id.clone()));
        }
        self.record(id, to, kind, now);
    }

    fn record(
        &mut self,
        id: &OrderGroupId,
        to: OrderGroupState,
        kind: Option<TransactionKind>,
        now: DateTime<Utc>,
    ) {
        let Some(group) = self.groups.get_mut(id) else {
            return;
        };
        group.state = to;
        group.updated_at = now;
        if let Some(kind) = kind {
            let cursor = Cursor::from_sequence(self.feed.len() as u64 + 1);
            self.feed.push(Transaction {
                cursor,
                order_group_id: id.clone(),
                client_reference: group.client_reference.clone(),
                kind,
                at: now,
            });
        }
    }
}

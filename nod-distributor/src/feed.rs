//! Follows NOD's transaction feed: pickups, activations, outside cancellations and expiry
//! become status changes here. Each page is applied in one transaction together with the
//! cursor it ends at, so a crash re-reads the page (a repeated entry changes nothing) and
//! no entry is skipped. On PostgreSQL one replica follows at a time (a transaction-scoped
//! advisory lock held while the page is read and applied).
//!
//! An entry that cannot be applied for what it is (a corrupt ticket row, a status this
//! version does not know) is parked in `nod_feed_quarantine` with its reason, in the same
//! transaction, counted in `td_quarantined_total` and logged once; the page goes on. A
//! database failure aborts the page, which is read again later.

use std::sync::Arc;
use std::time::Duration;
use td_domain::ids::TicketDistributionId;
use td_domain::status::TdEvent;
use td_nod::{Cursor, Nod, Transaction, TransactionKind};
use td_store::nod::{self as store, NodChange};
use td_store::{DatabaseConnection, TransactionTrait};
use tokio_util::sync::CancellationToken;

const FEED_LOCK: i64 = 7_346_024;

pub struct FeedFollower {
    pub db: DatabaseConnection,
    pub nod: Arc<dyn Nod>,
    pub page: u32,
}

fn event_of(kind: TransactionKind) -> TdEvent {
    match kind {
        TransactionKind::PickedUp => TdEvent::PickedUp,
        TransactionKind::Activated => TdEvent::Activated,
        TransactionKind::Cancelled => TdEvent::CancelledExternally,
        TransactionKind::Expired => TdEvent::Expired,
    }
}

/// What a feed entry changes here; `None` for an order group that is not ours (its client
/// reference is no ticket id). Also how an operator's replay applies a parked entry.
pub fn change_of(entry: &Transaction) -> Option<NodChange> {
    let id = entry.client_reference.parse().ok()?;
    Some(NodChange {
        ticket_distribution_id: TicketDistributionId(id),
        event: event_of(entry.kind),
        nod_order_group_id: Some(entry.order_group_id.as_str().to_owned()),
        reason: None,
        media_serial_number_id: None,
        traceparent: None,
        at: entry.at,
    })
}

/// The `reason` label of a parked entry (the kind of error; the log and the row say more).
fn reason_label(err: &td_store::StoreError) -> &'static str {
    use td_store::StoreError;
    match err {
        StoreError::Db(_) => "database",
        StoreError::Corrupt(_) => "corrupt",
        StoreError::Event(_) => "event",
        StoreError::OtherOrganisation { .. } => "other_organisation",
    }
}

impl FeedFollower {
    /// Reads and applies one page; returns how many entries it held (None: another
    /// replica follows the feed now).
    pub async fn step(&self) -> anyhow::Result<Option<usize>> {
        let Some(txn) = td_store::begin_exclusive(&self.db, FEED_LOCK).await? else {
            return Ok(None);
        };
        let cursor = store::feed_cursor(&txn).await?.map(Cursor::new);
        let entries = self.nod.transactions(cursor.as_ref(), self.page).await?;
        let mut parked = Vec::new();
        for entry in &entries {
            let Some(change) = change_of(entry) else {
                tracing::warn!(client_reference = %entry.client_reference, "NOD feed entry for an order group that is not ours; skipped");
                continue;
            };
            // A savepoint, so that a failed entry leaves the page's transaction usable.
            let attempt = txn.begin().await?;
            match store::apply_change(&attempt, &change).await {
                Ok(_) => attempt.commit().await?,
                Err(err) if err.is_transient() => return Err(err.into()),
                Err(err) => {
                    attempt.rollback().await?;
                    let reason = err.to_string();
                    let json = serde_json::to_value(entry)?;
                    store::quarantine_feed_entry(&txn, json, &reason, chrono::Utc::now()).await?;
                    parked.push((entry, reason_label(&err), reason));
                }
            }
        }
        if let Some(last) = entries.last() {
            store::save_feed_cursor(&txn, last.cursor.as_str(), chrono::Utc::now()).await?;
        }
        txn.commit().await?;
        for (entry, label, reason) in parked {
            metrics::counter!("td_quarantined_total", "stage" => "nod-feed", "reason" => label)
                .increment(1);
            tracing::error!(
                client_reference = %entry.client_reference,
                cursor = %entry.cursor.as_str(),
                reason,
                "NOD feed entry parked: it cannot be applied; the feed goes on"
            );
        }
        Ok(Some(entries.len()))
    }

    /// Follows the feed until `shutdown`: at once after a full page, after `idle`
    /// otherwise, after five times `idle` when reading or applying a page failed.
    pub async fn run(self, idle: Duration, shutdown: CancellationToken) {
        let page = usize::try_from(self.page).unwrap_or(usize::MAX);
        td_jobs::repeat_passes(
            "following the NOD feed",
            page,
            idle,
            5,
            shutdown,
            || async { Ok(self.step().await?.unwrap_or(0)) },
        )
        .await;
    }
}

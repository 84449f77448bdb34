//! Follows NOD's transaction feed: pickups, activations, outside cancellations and expiry
//! become status changes here. Each page is applied in one transaction together with the
//! cursor it ends at, so a crash re-reads the page (a repeated entry changes nothing) and
//! no entry is skipped. On PostgreSQL one replica follows at a time (a transaction-scoped
//! advisory lock held while the page is read and applied).

use std::sync::Arc;
use std::time::Duration;
use td_domain::ids::TicketDistributionId;
use td_domain::status::TdEvent;
use td_nod::{Cursor, Nod, TransactionKind};
use td_store::nod::{self as store, NodChange};
use td_store::DatabaseConnection;
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

impl FeedFollower {
    /// Reads and applies one page; returns how many entries it held (None: another
    /// replica follows the feed now).
    pub async fn step(&self) -> anyhow::Result<Option<usize>> {
        let Some(txn) = td_store::begin_exclusive(&self.db, FEED_LOCK).await? else {
            return Ok(None);
        };
        let cursor = store::feed_cursor(&txn).await?.map(Cursor::new);
        let entries = self.nod.transactions(cursor.as_ref(), self.page).await?;
        for entry in &entries {
            let Ok(id) = entry.client_reference.parse() else {
                tracing::warn!(client_reference = %entry.client_reference, "NOD feed entry for an order group that is not ours; skipped");
                continue;
            };
            let change = NodChange {
                ticket_distribution_id: TicketDistributionId(id),
                event: event_of(entry.kind),
                nod_order_group_id: Some(entry.order_group_id.as_str().to_owned()),
                reason: None,
                media_serial_number_id: None,
                traceparent: None,
                at: entry.at,
            };
            store::apply_change(&txn, &change).await?;
        }
        if let Some(last) = entries.last() {
            store::save_feed_cursor(&txn, last.cursor.as_str(), chrono::Utc::now()).await?;
        }
        txn.commit().await?;
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

//! The in-memory cache on the hot status path. A ticket's stored status is kept for at most
//! `status_cache_ttl_ms`, and is dropped the moment PostgreSQL reports (LISTEN/NOTIFY, sent
//! inside the transaction that changed it, delivered on commit) that it changed. While the
//! listener is not connected the cache is bypassed, so a lost connection can never serve a
//! stale answer. Time-based validity (`EXPIRED`) is computed on every request, not cached.
//!
//! Race: a reader that loaded a row just before a change committed must not put the old row
//! into the cache after the notification evicted it. Every eviction bumps `epoch`; a reader
//! inserts only if the epoch is what it was when it started reading.

use moka::sync::Cache;
use sqlx::postgres::{PgListener, PgPool};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use td_store::query::StatusRow;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct StatusCache {
    entries: Cache<Uuid, Arc<StatusRow>>,
    listening: AtomicBool,
    epoch: AtomicU64,
}

impl StatusCache {
    pub fn new(ttl: Duration, capacity: u64) -> Arc<Self> {
        Arc::new(Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            listening: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        })
    }

    /// The epoch to pass to `insert` after reading the database.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, id: &Uuid) -> Option<Arc<StatusRow>> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.entries.get(id)
    }

    pub fn insert(&self, id: Uuid, row: Arc<StatusRow>, epoch_at_read: u64) {
        if self.listening.load(Ordering::Acquire) && self.epoch() == epoch_at_read {
            self.entries.insert(id, row);
            // An eviction may have slipped in between the check and the insert.
            if self.epoch() != epoch_at_read {
                self.entries.invalidate(&id);
            }
        }
    }

    fn evict(&self, id: &Uuid) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(id);
    }

    fn evict_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Follows status-change notifications until shutdown, reconnecting with backoff.
    pub fn spawn_listener(self: &Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !shutdown.is_cancelled() {
                match cache.listen(&pool, &shutdown).await {
                    Ok(()) => break,
                    Err(err) => {
                        cache.listening.store(false, Ordering::Release);
                        cache.evict_all();
                        tracing::warn!(error = %err, "status cache listener lost; cache bypassed until it reconnects");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            cache.listening.store(false, Ordering::Release);
        });
    }

    async fn listen(&self, pool: &PgPool, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(td_store::notify::STATUS_CHANNEL).await?;
        // Anything cached before this point may have missed a notification.
        self.evict_all();
        self.listening.store(true, Ordering::Release);
        tracing::info!("status cache following status changes");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                note = listener.try_recv() => match note? {
                    Some(note) => match Uuid::parse_str(note.payload()) {
                        Ok(id) => self.evict(&id),
                        Err(_) => self.evict_all(),
                    },
                    // The connection dropped; notifications may have been lost.
                    None => return Err(sqlx::Error::Protocol("listener connection lost".into())),
                },
            }
        }
    }
}

//! The in-memory cache on the hot status path. A ticket's stored status is kept for at most
//! `status_cache_ttl_ms`, and is dropped the moment PostgreSQL reports (LISTEN/NOTIFY, sent
//! inside the transaction that changed it, delivered on commit) that it changed. While the
//! listener is not connected the cache is bypassed, so a lost connection can never serve a
//! stale answer. Time-based validity (`EXPIRED`) is computed on every request, not cached.
//!
//! Race: a reader that loaded a row just before a change committed must not put the old row
//! into the cache after the notification evicted it. Every eviction bumps `epoch`; a reader
//! inserts only if the epoch is what it was when it started reading.
//!
//! Race: a notification reaches this process a little after its transaction committed. A
//! request arriving in between must not be answered from the cache with the state before
//! the commit. So a cached answer is given only after a *barrier*: a notification on a
//! channel of this process's own, committed after the request arrived. PostgreSQL delivers
//! notifications in commit order, so once the barrier comes back every change committed
//! before the request has evicted its entry. Barriers are shared: one in flight serves every
//! request that arrived before it was sent, so under load they cost one small statement per
//! round trip, not one per request. Without an answer within `BARRIER_WAIT` the request
//! reads the database instead.

use moka::sync::Cache;
use sqlx::postgres::{PgConnection, PgListener, PgPool};
use sqlx::Connection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use td_store::query::StatusRow;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Barriers under way at once, at most (each sender holds a database connection of its own).
const BARRIER_SENDERS: usize = 2;

/// How long a request waits for a barrier before it reads the database instead.
const BARRIER_WAIT: Duration = Duration::from_millis(500);

pub struct StatusCache {
    entries: Cache<Uuid, Arc<StatusRow>>,
    listening: AtomicBool,
    epoch: AtomicU64,
    /// This process's barrier channel (unique per process: replicas share the database).
    barrier_channel: String,
    /// The number of the last barrier sent (or being sent).
    barriers_sent: AtomicU64,
    /// The number of the last barrier that came back.
    barriers_seen: watch::Sender<u64>,
    /// Wakes the task that sends barriers.
    barrier_wanted: Notify,
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
            barrier_channel: format!("td_status_barrier_{}", Uuid::new_v4().simple()),
            barriers_sent: AtomicU64::new(0),
            barriers_seen: watch::Sender::new(0),
            barrier_wanted: Notify::new(),
        })
    }

    /// The cached state of `id`, if it is cached and no change committed before this call
    /// can still be on its way: waits for a barrier first (see the module documentation).
    /// `None` means: read the database.
    pub async fn get_fresh(&self, id: &Uuid) -> Option<Arc<StatusRow>> {
        self.get(id)?;
        if !self.barrier().await {
            return None;
        }
        self.get(id)
    }

    /// Waits until a barrier sent after this call came back; false after `BARRIER_WAIT`.
    async fn barrier(&self) -> bool {
        // The sender bumps `barriers_sent` before it sends, so a barrier numbered above what
        // is read here is sent after this point.
        let target = self.barriers_sent.load(Ordering::Acquire) + 1;
        let mut seen = self.barriers_seen.subscribe();
        self.barrier_wanted.notify_one();
        let came_back = tokio::time::timeout(BARRIER_WAIT, seen.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        came_back
    }

    /// Sends a barrier whenever one is wanted, until shutdown. Several senders run at once
    /// (`BARRIER_SENDERS`), each on a connection of its own, so that a request arriving
    /// while one barrier is under way does not wait for it to finish before the next starts.
    async fn send_barriers(&self, pool: PgPool, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            // A connection of its own, not from the pool: its session setting below must
            // never reach a query that writes.
            let mut conn = match PgConnection::connect_with(&pool.connect_options()).await {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(error = %err, "status cache barrier connection failed; requests read the database");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            // A barrier records nothing: its commit need not wait for the disk.
            if let Err(err) = sqlx::query("SET synchronous_commit = off")
                .execute(&mut conn)
                .await
            {
                tracing::warn!(error = %err, "status cache barrier connection failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.barrier_wanted.notified() => {}
                }
                let n = self.barriers_sent.fetch_add(1, Ordering::AcqRel) + 1;
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(&self.barrier_channel)
                    .bind(n.to_string())
                    .execute(&mut conn)
                    .await;
                if let Err(err) = sent {
                    tracing::warn!(error = %err, "status cache barrier failed; requests read the database");
                    // A new connection: this one may be broken.
                    break;
                }
            }
        }
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
        for _ in 0..BARRIER_SENDERS {
            let (cache, pool, shutdown) = (Arc::clone(&cache), pool.clone(), shutdown.clone());
            tokio::spawn(async move { cache.send_barriers(pool, shutdown).await });
        }
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
        listener
            .listen_all([
                td_store::notify::STATUS_CHANNEL,
                self.barrier_channel.as_str(),
            ])
            .await?;
        // Anything cached before this point may have missed a notification.
        self.evict_all();
        self.listening.store(true, Ordering::Release);
        tracing::info!("status cache following status changes");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                note = listener.try_recv() => match note? {
                    Some(note) if note.channel() == self.barrier_channel => {
                        if let Ok(n) = note.payload().parse::<u64>() {
                            self.barriers_seen.send_if_modified(|seen| {
                                let newer = n > *seen;
                                if newer {
                                    *seen = n;
                                }
                                newer
                            });
                        }
                    }
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

//! Hears when orders are recorded, so that a createOrGet waiting for an order's tickets
//! wakes as soon as they exist instead of polling. On PostgreSQL it listens to the
//! notifications the recording transaction sends at commit; in one process (the embedded
//! default) it also hears the in-process announcements. After a lost connection it tells
//! every waiter to look again, since notifications may have been missed meanwhile.

use std::sync::Arc;
use std::time::Duration;
use td_store::notify::{local_orders, EVERY_ORDER, ORDERS_CHANNEL};
use td_store::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct OrderWatch {
    tx: broadcast::Sender<Arc<str>>,
}

/// What a waiter learns from one message.
pub enum Heard {
    /// The order may have changed: look again.
    LookAgain,
    /// About other orders only.
    Other,
    /// The watch is gone (shutdown).
    Closed,
}

impl OrderWatch {
    /// Starts following recorded orders until `shutdown`.
    pub fn start(db: &DatabaseConnection, shutdown: CancellationToken) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let watch = Self { tx };
        let mut local = local_orders().subscribe();
        let forward = watch.tx.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    msg = local.recv() => match msg {
                        Ok(id) => { let _ = forward.send(id); }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let _ = forward.send(Arc::from(EVERY_ORDER));
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        });
        if db.get_database_backend() == DbBackend::Postgres {
            let pool = db.get_postgres_connection_pool().clone();
            let forward = watch.tx.clone();
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(100);
                while !shutdown.is_cancelled() {
                    if let Err(err) = listen(&pool, &forward, &shutdown).await {
                        tracing::warn!(error = %err, "order notifications lost; reconnecting");
                        let _ = forward.send(Arc::from(EVERY_ORDER));
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            });
        }
        watch
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }
}

async fn listen(
    pool: &sqlx::PgPool,
    forward: &broadcast::Sender<Arc<str>>,
    shutdown: &CancellationToken,
) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(ORDERS_CHANNEL).await?;
    // Whatever was recorded before this point was not heard.
    let _ = forward.send(Arc::from(EVERY_ORDER));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            note = listener.try_recv() => match note? {
                Some(note) => {
                    for id in note.payload().split(',') {
                        let _ = forward.send(Arc::from(id));
                    }
                }
                None => return Err(sqlx::Error::Protocol("listener connection lost".into())),
            },
        }
    }
}

pub struct Subscription {
    rx: broadcast::Receiver<Arc<str>>,
}

impl Subscription {
    /// Waits for the next message and says what it means for `order_id`.
    pub async fn next(&mut self, order_id: &str) -> Heard {
        match self.rx.recv().await {
            Ok(id) if &*id == order_id || &*id == EVERY_ORDER => Heard::LookAgain,
            Ok(_) => Heard::Other,
            Err(broadcast::error::RecvError::Lagged(_)) => Heard::LookAgain,
            Err(broadcast::error::RecvError::Closed) => Heard::Closed,
        }
    }
}

//! Connections for blocking reads. `XREADGROUP BLOCK` holds its connection for the whole
//! wait, and a multiplexed connection answers in order, so a blocking read on the shared
//! command connection would stall every other command behind it. Each waiting receive
//! borrows a connection of its own from this small pool instead; the pool's size bounds
//! how many receives may wait at once.

use super::codec::{read_reply, Entry};
use crate::JobError;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How much longer than its own BLOCK time a read may take before the connection is
/// presumed dead; generous, since a loaded server answers late rather than never.
const GRACE: Duration = Duration::from_secs(5);

pub(super) struct Readers {
    client: Client,
    slots: Semaphore,
    idle: Mutex<Vec<MultiplexedConnection>>,
}

impl Readers {
    pub(super) fn new(client: Client, size: usize) -> Self {
        Self {
            client,
            slots: Semaphore::new(size),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `XREADGROUP ... BLOCK <wait>`. Waiting for a free connection counts against
    /// `wait`; nothing is read if none frees up in time.
    pub(super) async fn read(
        &self,
        group: &str,
        consumer: &str,
        stream: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Entry>, JobError> {
        let started = Instant::now();
        let Ok(Ok(_permit)) = tokio::time::timeout(wait, self.slots.acquire()).await else {
            return Ok(Vec::new());
        };
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                // The read times itself out (below); the client's own response timeout
                // would cut every long BLOCK short.
                let config = AsyncConnectionConfig::new().set_response_timeout(None);
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?
            }
        };
        let wait = wait.saturating_sub(started.elapsed());
        // BLOCK 0 would mean "forever".
        let block_ms = wait.as_millis().clamp(1, u64::MAX as u128) as u64;
        let mut cmd = Cmd::new();
        cmd.arg("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(stream)
            .arg(">");
        let reply = tokio::time::timeout(wait + GRACE, cmd.query_async(&mut conn)).await;
        // A connection goes back to the pool only after a complete answer; one that timed
        // out or broke (or whose read was cancelled, by dropping this future) is dropped.
        match reply {
            Ok(Ok(value)) => {
                self.give_back(conn);
                read_reply(&value)
            }
            Ok(Err(err)) => {
                if !(err.is_io_error() || err.is_timeout() || err.is_unrecoverable_error()) {
                    self.give_back(conn);
                }
                Err(err.into())
            }
            Err(_) => Err(JobError::Protocol(format!(
                "a blocking read of {stream} got no answer within {:?}",
                wait + GRACE
            ))),
        }
    }

    fn give_back(&self, conn: MultiplexedConnection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }
}

//! The production queue on Redis streams. Per stream `S` it uses:
//!
//! - `S`, the stream, read through consumer groups (created at id 0 on first use, so jobs
//!   enqueued before the first worker started are not skipped);
//! - `S:delayed`, a sorted set of retries scored by due time (ms), moved back to `S` by
//!   the receive script when due;
//! - `S:dead`, the dead-letter stream;
//! - `S:dedup:<key>`, one short-lived key per dedup key.
//!
//! An acked job is deleted (XACK + XDEL), so `S` holds only unfinished work and its length
//! is the backlog. That is why enqueue bounds the stream by refusing (`max_depth`) rather
//! than with `XADD MAXLEN ~`: trimming drops the oldest entries whether or not they were
//! processed, which would silently lose work. Only the dead-letter stream is trimmed, at a
//! large cap, because its entries are records rather than work.
//!
//! Not cluster-aware: a stream's keys would need a common hash tag to live in one slot.

mod codec;
mod job_queue;
mod readers;
mod scripts;

use crate::settle::Settle;
use crate::{dead_letter_stream, Delivery, JobError, QueueConfig, MAX_BATCH};
use codec::{array, decode_job, entry, int, string, Entry};
use readers::Readers;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// At most this many due retries move back to the stream per receive step, so that one
/// step stays short (Redis runs scripts one at a time) even after an outage.
const PROMOTE_PER_STEP: usize = 100;

/// Commands other than blocking reads are short scripts; a longer silence means trouble.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

fn delayed_key(stream: &str) -> String {
    format!("{stream}:delayed")
}

fn dedup_key(stream: &str, key: &str) -> String {
    format!("{stream}:dedup:{key}")
}

fn is_nogroup(err: &JobError) -> bool {
    matches!(err, JobError::Redis(e) if e.code() == Some("NOGROUP"))
}

/// A `JobQueue` on Redis streams.
pub struct RedisQueue {
    config: QueueConfig,
    /// Shared by every command but blocking reads; reconnects by itself.
    conn: ConnectionManager,
    readers: Readers,
    /// Groups known to exist, so that XGROUP CREATE runs once per group and process.
    groups: Mutex<HashSet<(String, String)>>,
    /// Where each group's next XAUTOCLAIM scan resumes, so that one scan of a long
    /// pending list is spread over several receives instead of always rereading its head.
    cursors: Mutex<HashMap<(String, String), String>>,
}

/// What one receive step found besides the batch.
struct Step {
    batch: Vec<Delivery>,
    next_retry_in: Option<Duration>,
}

impl RedisQueue {
    /// Connects to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str, config: QueueConfig) -> Result<Self, JobError> {
        config.validate()?;
        let client = Client::open(url)?;
        let manager_config =
            ConnectionManagerConfig::new().set_response_timeout(Some(COMMAND_TIMEOUT));
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config).await?;
        Ok(Self {
            readers: Readers::new(client, config.max_blocking_reads),
            config,
            conn,
            groups: Mutex::new(HashSet::new()),
            cursors: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), JobError> {
        let key = (stream.to_owned(), group.to_owned());
        if self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(e.into()),
            _ => {}
        }
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        Ok(())
    }

    /// Runs `op` with the group in place. If the group vanished since it was created (Redis
    /// restarted without persistence, or someone deleted the stream), creates it again
    /// and runs `op` once more.
    async fn in_group<T, F, Fut>(&self, stream: &str, group: &str, op: F) -> Result<T, JobError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, JobError>>,
    {
        self.ensure_group(stream, group).await?;
        match op().await {
            Err(err) if is_nogroup(&err) => {
                self.groups
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(stream.to_owned(), group.to_owned()));
                self.ensure_group(stream, group).await?;
                op().await
            }
            other => other,
        }
    }

    async fn receive_step(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
    ) -> Result<Step, JobError> {
        let cursor_key = (stream.to_owned(), group.to_owned());
        let cursor = self
            .cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cursor_key)
            .cloned()
            .unwrap_or_else(|| "0-0".to_owned());
        let reply: Value = scripts::RECEIVE
            .key(stream)
            .key(delayed_key(stream))
            .key(dead_letter_stream(stream))
            .arg(group)
            .arg(consumer)
            .arg(max)
            .arg(self.config.visibility_timeout_ms)
            .arg(self.config.max_attempts)
            .arg(self.config.dead_letter_max_len)
            .arg(cursor)
            .arg(PROMOTE_PER_STEP)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let [entries, wait, next_cursor, abandoned] = array(&reply)? else {
            return Err(JobError::Protocol(format!("receive step: {reply:?}")));
        };
        self.cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cursor_key, string(next_cursor)?);
        for id in array(abandoned)? {
            tracing::warn!(stream, group, entry_id = %string(id)?, "job abandoned by its consumers, dead-lettered");
        }
        let mut batch = Vec::new();
        for item in array(entries)? {
            // `[id, fields, deliveries]`
            let Some(entry) = entry(item)? else { continue };
            let deliveries = match array(item)? {
                [_, _, deliveries] => int(deliveries)?,
                _ => return Err(JobError::Protocol(format!("receive entry: {item:?}"))),
            };
            batch.push(delivery(stream, group, consumer, entry, deliveries));
        }
        let wait = int(wait)?;
        Ok(Step {
            batch,
            next_retry_in: u64::try_from(wait).ok().map(Duration::from_millis),
        })
    }

    /// Waits for new entries on a connection of its own (see `readers`), for at most
    /// `wait`.
    async fn blocking_read(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, JobError> {
        let entries = self
            .readers
            .read(group, consumer, stream, max, wait)
            .await?;
        // Entries read with `>` are first deliveries.
        Ok(entries
            .into_iter()
            .map(|entry| delivery(stream, group, consumer, entry, 1))
            .collect())
    }

    async fn receive_batch(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        block_timeout: Duration,
    ) -> Result<Vec<Delivery>, JobError> {
        let max = max.min(MAX_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = crate::deadline_after(block_timeout);
        loop {
            let step = self
                .in_group(stream, group, || {
                    self.receive_step(stream, group, consumer, max)
                })
                .await?;
            if !step.batch.is_empty() {
                return Ok(step.batch);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Redis wakes a blocked read for new entries only. A retry falling due would
            // wait for the end of the block, so block no longer than until it is due; a
            // lease expiring meanwhile is reclaimed by the next step, at most one
            // `block_timeout` late, which is small next to a visibility timeout.
            let wait = match step.next_retry_in {
                Some(due) => (deadline - now).min(due),
                None => deadline - now,
            };
            let batch = self
                .in_group(stream, group, || {
                    self.blocking_read(stream, group, consumer, max, wait)
                })
                .await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
    }

    /// Runs the settle script for `settle`; `LeaseLost` when the caller no longer holds the
    /// lease (or the group is gone, which took every lease with it).
    async fn settle(&self, delivery: &Delivery, settle: Settle) -> Result<(), JobError> {
        let mut invocation = scripts::SETTLE.prepare_invoke();
        invocation
            .key(&delivery.stream)
            .key(delayed_key(&delivery.stream))
            .key(dead_letter_stream(&delivery.stream))
            .arg(&delivery.group)
            .arg(&delivery.entry_id)
            .arg(&delivery.consumer)
            .arg(delivery.deliveries);
        match settle {
            Settle::Ack => {
                invocation.arg("ack").arg(0).arg(0).arg("");
            }
            Settle::Retry { next, delay } => {
                invocation
                    .arg("retry")
                    .arg(delay.as_millis() as u64)
                    .arg(0)
                    .arg("")
                    .arg(codec::delayed_member(&next));
            }
            Settle::Dead { error } => {
                let fields = codec::job_fields(&delivery.job, delivery.job.payload.to_string());
                invocation
                    .arg("dead")
                    .arg(0)
                    .arg(self.config.dead_letter_max_len)
                    .arg(error)
                    .arg(codec::flat(fields));
            }
        }
        let settled: i64 = match invocation.invoke_async(&mut self.conn.clone()).await {
            Err(e) if e.code() == Some("NOGROUP") => 0,
            other => other?,
        };
        if settled == 1 {
            Ok(())
        } else {
            Err(JobError::LeaseLost {
                job_id: delivery.job.id.clone(),
                entry_id: delivery.entry_id.clone(),
            })
        }
    }
}

fn delivery(
    stream: &str,
    group: &str,
    consumer: &str,
    (entry_id, fields): Entry,
    deliveries: i64,
) -> Delivery {
    Delivery {
        stream: stream.to_owned(),
        group: group.to_owned(),
        consumer: consumer.to_owned(),
        job: decode_job(&entry_id, &fields),
        entry_id,
        deliveries: u32::try_from(deliveries).unwrap_or(u32::MAX),
    }
}

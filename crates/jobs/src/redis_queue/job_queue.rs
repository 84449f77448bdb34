//! `JobQueue` for `RedisQueue`: argument checks and reply decoding around the scripts.

use super::codec::{self, array, decode_dead_letter, entry, int, string};
use super::{dedup_key, delayed_key, scripts, RedisQueue};
use crate::settle::{self, Settle};
use crate::{
    dead_letter_stream, DeadLetter, Delivery, Enqueued, Job, JobError, JobQueue, QueueStats,
    RetryOutcome, MAX_BATCH,
};
use futures::future::BoxFuture;
use redis::Value;
use std::time::Duration;

impl JobQueue for RedisQueue {
    fn enqueue<'a>(
        &'a self,
        stream: &'a str,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Enqueued, JobError>> {
        Box::pin(async move {
            let payload = job.checked_payload(&self.config)?;
            let mut invocation = scripts::ENQUEUE.prepare_invoke();
            invocation.key(stream).key(delayed_key(stream));
            if let Some(key) = &job.dedup_key {
                invocation.key(dedup_key(stream, key));
            }
            invocation
                .arg(self.config.max_depth)
                .arg(self.config.dedup_window_ms)
                .arg(&job.id)
                .arg(codec::flat(codec::job_fields(job, payload)));
            let reply: Value = invocation.invoke_async(&mut self.conn.clone()).await?;
            let [status, detail] = array(&reply)? else {
                return Err(JobError::Protocol(format!("enqueue: {reply:?}")));
            };
            match int(status)? {
                1 => Ok(Enqueued::Added),
                0 => Ok(Enqueued::Duplicate {
                    job_id: string(detail)?,
                }),
                _ => Err(JobError::Full {
                    stream: stream.to_owned(),
                    depth: int(detail)?.max(0) as u64,
                }),
            }
        })
    }

    fn receive<'a>(
        &'a self,
        stream: &'a str,
        group: &'a str,
        consumer: &'a str,
        max: usize,
        block_timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, JobError>> {
        Box::pin(self.receive_batch(stream, group, consumer, max, block_timeout))
    }

    fn ack<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.settle(delivery, Settle::Ack))
    }

    fn retry<'a>(
        &'a self,
        delivery: &'a Delivery,
        error: &'a str,
    ) -> BoxFuture<'a, Result<RetryOutcome, JobError>> {
        Box::pin(settle::retry(&self.config, delivery, error, |planned| {
            self.settle(delivery, planned)
        }))
    }

    fn fail<'a>(
        &'a self,
        delivery: &'a Delivery,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.settle(delivery, Settle::dead(error)))
    }

    fn stats<'a>(
        &'a self,
        stream: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<QueueStats, JobError>> {
        Box::pin(async move {
            let reply: Value = scripts::STATS
                .key(stream)
                .key(delayed_key(stream))
                .key(dead_letter_stream(stream))
                .arg(group)
                .invoke_async(&mut self.conn.clone())
                .await?;
            let [len, pending, delayed, dead] = array(&reply)? else {
                return Err(JobError::Protocol(format!("stats: {reply:?}")));
            };
            let count = |v: &Value| int(v).map(|n| n.max(0) as u64);
            let (len, pending) = (count(len)?, count(pending)?);
            Ok(QueueStats {
                ready: len.saturating_sub(pending),
                pending,
                delayed: count(delayed)?,
                dead: count(dead)?,
            })
        })
    }

    fn dead_letters<'a>(
        &'a self,
        stream: &'a str,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, JobError>> {
        Box::pin(async move {
            let max = max.min(MAX_BATCH);
            if max == 0 {
                return Ok(Vec::new());
            }
            let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
            let reply: Value = redis::cmd("XRANGE")
                .arg(dead_letter_stream(stream))
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(max)
                .query_async(&mut self.conn.clone())
                .await?;
            let mut letters = Vec::new();
            for item in array(&reply)? {
                letters.extend(entry(item)?.map(decode_dead_letter));
            }
            Ok(letters)
        })
    }

    fn remove_dead_letter<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, JobError>> {
        Box::pin(async move {
            let removed: i64 = redis::cmd("XDEL")
                .arg(dead_letter_stream(stream))
                .arg(id)
                .query_async(&mut self.conn.clone())
                .await?;
            Ok(removed > 0)
        })
    }
}

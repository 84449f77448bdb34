//! The embedded default's queue: the same semantics as `RedisQueue`, held in process.
//! Jobs do not survive a restart, which is what the embedded default promises anyway.

mod stream;

use crate::settle::{self, Settle};
use crate::{
    DeadLetter, Delivery, Enqueued, Job, JobError, JobQueue, QueueConfig, QueueStats, RetryOutcome,
    MAX_BATCH,
};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;
use stream::Stream;
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

/// An in-process `JobQueue`. Time is tokio's clock, so tests may pause and advance it.
pub struct InMemoryQueue {
    config: QueueConfig,
    streams: Mutex<HashMap<String, Stream>>,
    /// Wakes waiting receives when a job is added; expiring leases and due retries are
    /// found by the deadline each waiting receive computes.
    changed: Notify,
}

impl InMemoryQueue {
    pub fn new(config: QueueConfig) -> Result<Self, JobError> {
        config.validate()?;
        Ok(Self {
            config,
            streams: Mutex::new(HashMap::new()),
            changed: Notify::new(),
        })
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn settle(&self, delivery: &Delivery, settle: Settle) -> Result<(), JobError> {
        let mut streams = self.streams.lock().await;
        let stream = streams
            .get_mut(&delivery.stream)
            .ok_or_else(|| JobError::LeaseLost {
                job_id: delivery.job.id.clone(),
                entry_id: delivery.entry_id.clone(),
            })?;
        stream.settle(delivery, settle, &self.config, Instant::now())?;
        drop(streams);
        // A retry may be due before whatever a waiting receive planned to wake for.
        self.changed.notify_waiters();
        Ok(())
    }
}

impl JobQueue for InMemoryQueue {
    fn enqueue<'a>(
        &'a self,
        stream: &'a str,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Enqueued, JobError>> {
        Box::pin(async move {
            let mut streams = self.streams.lock().await;
            let outcome = streams.entry(stream.to_owned()).or_default().enqueue(
                stream,
                job,
                &self.config,
                Instant::now(),
            )?;
            drop(streams);
            self.changed.notify_waiters();
            Ok(outcome)
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
        Box::pin(async move {
            let max = max.min(MAX_BATCH);
            if max == 0 {
                return Ok(Vec::new());
            }
            let deadline = crate::deadline_after(block_timeout);
            loop {
                // Registered before looking, so an enqueue between the look and the wait
                // still wakes this receive.
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();

                let now = Instant::now();
                let (batch, wake) = self
                    .streams
                    .lock()
                    .await
                    .entry(stream.to_owned())
                    .or_default()
                    .receive(stream, group, consumer, max, &self.config, now);
                if !batch.is_empty() || now >= deadline {
                    return Ok(batch);
                }
                let until = wake.map_or(deadline, |wake| wake.min(deadline));
                // Timing out is the normal way to wake up here.
                let _ = tokio::time::timeout_at(until, changed).await;
            }
        })
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
            let streams = self.streams.lock().await;
            Ok(streams
                .get(stream)
                .map_or_else(QueueStats::default, |s| s.stats(group)))
        })
    }

    fn dead_letters<'a>(
        &'a self,
        stream: &'a str,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, JobError>> {
        Box::pin(async move {
            let streams = self.streams.lock().await;
            match streams.get(stream) {
                Some(s) => s.dead_letters(after, max.min(MAX_BATCH)),
                None => Ok(Vec::new()),
            }
        })
    }

    fn remove_dead_letter<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, JobError>> {
        Box::pin(async move {
            let mut streams = self.streams.lock().await;
            match streams.get_mut(stream) {
                Some(s) => s.remove_dead_letter(id),
                None => Ok(false),
            }
        })
    }
}

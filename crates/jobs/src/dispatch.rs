//! The producing side every worker shares: a dispatcher that moves what the database says
//! is due into the queue, in passes. A job is only a reminder of work recorded in the
//! database; the database says what is due, the dispatcher enqueues it and then stamps it,
//! so a crash between the two enqueues it once more (harmless: handlers are idempotent)
//! and a job lost in the queue is enqueued again once the stamp is old enough.

use crate::{enqueue_all, Consumer, Job, JobQueue};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where a worker's jobs go and which consumer group reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    pub stream: String,
    pub group: String,
}

impl Streams {
    pub fn new(stream: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            group: group.into(),
        }
    }

    /// The consumer `name` of this group, holding `concurrency` jobs at once.
    pub fn consumer(&self, name: impl Into<String>, concurrency: usize) -> Consumer {
        Consumer {
            stream: self.stream.clone(),
            group: self.group.clone(),
            name: name.into(),
            concurrency,
        }
    }
}

/// The work a worker's database says is due, as the dispatcher reads it. A pass runs in
/// `Pass` (a transaction, typically holding a lock so that one replica dispatches at a
/// time): `fetch`, then the jobs are enqueued, then `mark_enqueued` with the keys of those
/// that went in, which also ends the pass.
pub trait Due: Send + Sync + 'static {
    /// What identifies one item of work, e.g. a ticket id.
    type Key: Send + Sync;
    type Pass: Send + Sync;
    /// For logs, e.g. "NOD dispatch".
    const WHAT: &'static str;

    /// Begins a pass; `None` when another replica is dispatching now.
    fn begin(&self) -> impl Future<Output = anyhow::Result<Option<Self::Pass>>> + Send;

    /// Up to `limit` items due at `now`, oldest first, each with its job.
    fn fetch(
        &self,
        pass: &Self::Pass,
        now: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<(Self::Key, Job)>>> + Send;

    /// Stamps `enqueued` as enqueued at `now` and ends the pass; it includes the jobs the
    /// queue refused for good, so that they wait a redispatch delay before being offered
    /// again.
    fn mark_enqueued(
        &self,
        pass: Self::Pass,
        enqueued: &[Self::Key],
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Enqueues jobs for what is due, in passes of at most `batch`.
pub struct Dispatcher<D> {
    pub due: D,
    pub queue: Arc<dyn JobQueue>,
    pub stream: String,
    pub batch: u64,
}

impl<D: Due> Dispatcher<D> {
    /// One pass; returns how many jobs were enqueued.
    pub async fn pass(&self) -> anyhow::Result<usize> {
        let Some(pass) = self.due.begin().await? else {
            return Ok(0);
        };
        let now = Utc::now();
        let jobs = self.due.fetch(&pass, now, self.batch).await?;
        let report = enqueue_all(self.queue.as_ref(), &self.stream, jobs).await;
        let handled = report.enqueued.len() + report.refused.len();
        // A refused job is stamped too: it is not offered again before the worker's
        // redispatch delay, so it cannot fill every pass's batch.
        let mut stamped = report.enqueued;
        stamped.extend(report.refused);
        self.due.mark_enqueued(pass, &stamped, now).await?;
        Ok(handled)
    }

    /// Passes until `shutdown`: at once after a full batch, after `idle` otherwise.
    pub async fn run(self, idle: Duration, shutdown: CancellationToken) {
        let batch = usize::try_from(self.batch).unwrap_or(usize::MAX);
        repeat_passes(D::WHAT, batch, idle, 10, shutdown, || self.pass()).await;
    }
}

/// Calls `pass` again and again until `shutdown`: at once when it reports a full batch
/// (there is more), after `idle` when it did less, after `idle * failed_factor` when it
/// failed. For loops that move due work from the database into a queue or follow a feed.
pub async fn repeat_passes<F, Fut>(
    what: &'static str,
    batch: usize,
    idle: Duration,
    failed_factor: u32,
    shutdown: CancellationToken,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    loop {
        let wait = match pass().await {
            Ok(n) if n >= batch => Duration::ZERO,
            Ok(_) => idle,
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "{what} failed; retrying");
                idle * failed_factor
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InMemoryQueue, QueueConfig};
    use std::sync::Mutex;

    /// Always the same three items due; remembers what was stamped.
    struct Fixed {
        jobs: Vec<(u32, Job)>,
        stamped: Mutex<Vec<u32>>,
    }

    impl Due for Fixed {
        type Key = u32;
        type Pass = ();
        const WHAT: &'static str = "test dispatch";

        async fn begin(&self) -> anyhow::Result<Option<()>> {
            Ok(Some(()))
        }

        async fn fetch(&self, _: &(), _: DateTime<Utc>, _: u64) -> anyhow::Result<Vec<(u32, Job)>> {
            Ok(self.jobs.clone())
        }

        async fn mark_enqueued(
            &self,
            _: (),
            enqueued: &[u32],
            _: DateTime<Utc>,
        ) -> anyhow::Result<()> {
            self.stamped.lock().unwrap().extend_from_slice(enqueued);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_pass_stamps_a_refused_job_with_the_enqueued_ones() {
        let queue = InMemoryQueue::new(QueueConfig {
            max_payload_bytes: 64,
            ..QueueConfig::default()
        })
        .unwrap();
        let small = |n: u32| Job::new("test.work", serde_json::json!({ "n": n }));
        let huge = Job::new("test.work", serde_json::json!({ "blob": "x".repeat(100) }));
        let dispatcher = Dispatcher {
            due: Fixed {
                jobs: vec![(1, small(1)), (2, huge), (3, small(3))],
                stamped: Mutex::default(),
            },
            queue: Arc::new(queue),
            stream: "work".to_owned(),
            batch: 3,
        };
        assert_eq!(
            dispatcher.pass().await.unwrap(),
            3,
            "a full batch: more may be due"
        );
        assert_eq!(*dispatcher.due.stamped.lock().unwrap(), [1, 3, 2]);
        let stats = dispatcher.queue.stats("work", "g").await.unwrap();
        assert_eq!(stats.depth(), 2);
    }
}

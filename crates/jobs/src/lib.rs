//! The job queue that carries work between the workers: NOD placements and cancellations
//! for nod-distributor, mail jobs for mailer. Redis streams with consumer groups in
//! production (`RedisQueue`), an in-process queue with the same semantics in the embedded
//! default (`InMemoryQueue`); both sit behind `JobQueue`, and one contract suite
//! (`tests/contract.rs`) runs against both so the embedded default cannot drift.
//!
//! What the queue promises: a job is handed to one consumer of a group at a time; it stays
//! leased until that consumer acks it, retries it or fails it; a lease left alone for the
//! visibility timeout (a crashed consumer) is reclaimed by another consumer; retries wait
//! with exponential backoff and jitter; after the last attempt, or on a permanent failure,
//! the job goes to a dead-letter stream with its last error and is never dropped. Delivery
//! is at least once, so consumers must stay idempotent (a slow consumer whose lease was
//! reclaimed learns so from `JobError::LeaseLost`, but may already have acted).
//!
//! Everything is bounded: a queue refuses new jobs past `max_depth`, a receive hands out at
//! most `MAX_BATCH` jobs, payloads and errors have size limits, the dead-letter stream has
//! a cap. This crate moves jobs; it must not know what a job means or how to do it.
//!
//! Around the queue, the one shape every worker has: typed jobs (`JobKind`, one serde
//! struct per kind), a `Handler` that does one job and says what it came to (`Outcome`),
//! a `Worker` that leases, handles and settles (`Worker::process_one` is one job of it,
//! for the loop and for tests alike), and a `Dispatcher` that enqueues what a worker's
//! database says is `Due`. A worker writes its handler and its due query, nothing else.
//!
//! One stream is meant for one consumer group: an acked job is deleted from the stream, so
//! a second group on the same stream would miss it.

mod backoff;
mod config;
mod consume;
mod dispatch;
mod error;
mod handler;
mod job;
mod memory;
mod redis_queue;
mod settle;
mod typed;
mod worker;

pub use backoff::retry_delay;
pub use config::QueueConfig;
pub use consume::{consume, Consumer};
pub use dispatch::{repeat_passes, Dispatcher, Due, Streams};
pub use error::JobError;
pub use handler::{Handler, Outcome};
pub use job::{DeadLetter, Delivery, Enqueued, Job, QueueStats, RetryOutcome};
pub use memory::InMemoryQueue;
pub use redis_queue::RedisQueue;
pub use typed::{malformed, FromJob, JobKind};
pub use worker::Worker;

use futures::future::BoxFuture;
use std::time::Duration;

/// The most jobs one `receive` hands out, whatever `max` asks for: a consumer holds every
/// job of a batch leased, so a huge batch would only age in its hands.
pub const MAX_BATCH: usize = 1000;

/// When a receive waiting `block_timeout` gives up; a timeout too large to add to the
/// clock (`Duration::MAX` as "forever") waits a year, which is forever enough.
pub(crate) fn deadline_after(block_timeout: std::time::Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(block_timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(365 * 24 * 3600))
}

/// What `enqueue_all` did with the jobs it was given, by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueReport<K> {
    /// The jobs that went in, duplicates included.
    pub enqueued: Vec<K>,
    /// The jobs the queue refuses for what they are (too large, invalid), whenever they
    /// are offered; each was logged at error level with the reason.
    pub refused: Vec<K>,
}

/// Enqueues `jobs` on `stream` in order until the queue cannot take more (full, Redis
/// unreachable: the rest waits for the producer's next pass). A job refused for what it is
/// (`JobError::is_refusal`) is skipped with its reason and the later ones still go in, so
/// one bad job cannot hold back every job behind it.
pub async fn enqueue_all<K>(
    queue: &dyn JobQueue,
    stream: &str,
    jobs: impl IntoIterator<Item = (K, Job)>,
) -> EnqueueReport<K> {
    let mut report = EnqueueReport {
        enqueued: Vec::new(),
        refused: Vec::new(),
    };
    for (key, job) in jobs {
        match queue.enqueue(stream, &job).await {
            Ok(_) => report.enqueued.push(key),
            Err(err) if err.is_refusal() => {
                tracing::error!(error = %err, %stream, kind = %job.kind, "job refused by the queue; skipped");
                metrics::counter!("td_jobs_refused_total", "stream" => stream.to_owned())
                    .increment(1);
                report.refused.push(key);
            }
            Err(err) => {
                tracing::warn!(error = %err, %stream, "enqueueing paused");
                break;
            }
        }
    }
    report
}

/// The quarantine stage of a job stream: its name without the environment suffix
/// (`nod-jobs-prod` is `nod-jobs`), as `td_quarantined_total` and `td-admin` name it.
pub fn stage_of(stream: &str) -> String {
    match stream.match_indices('-').nth(1) {
        Some((at, _)) => stream[..at].to_owned(),
        None => stream.to_owned(),
    }
}

/// The name of the dead-letter stream of `stream`.
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}:dead")
}

/// A queue of jobs on named streams, consumed through consumer groups.
///
/// `group` names the kind of worker (all replicas of nod-distributor share one) and
/// `consumer` one replica; consumer names must be unique among live replicas, since a
/// lease belongs to a consumer name.
pub trait JobQueue: Send + Sync {
    /// Appends `job` to `stream`. With a `dedup_key`, a second job with the same key within
    /// the dedup window is not added and `Enqueued::Duplicate` names the first one. Fails
    /// with `JobError::Full` when the stream already holds `max_depth` jobs (waiting,
    /// leased or scheduled for retry): the producer keeps its input and tries later.
    fn enqueue<'a>(
        &'a self,
        stream: &'a str,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<Enqueued, JobError>>;

    /// Leases up to `max` jobs (at most `MAX_BATCH`) to `consumer`: first those of crashed
    /// consumers whose visibility timeout has passed, then new ones. Waits up to
    /// `block_timeout` when there is nothing, and returns an empty batch then. Creates the
    /// group on first use. Due retries are moved back to the stream on the way.
    ///
    /// Cancelling the returned future loses nothing: a job leased meanwhile is reclaimed
    /// after the visibility timeout.
    fn receive<'a>(
        &'a self,
        stream: &'a str,
        group: &'a str,
        consumer: &'a str,
        max: usize,
        block_timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, JobError>>;

    /// Marks the job done and removes it. `JobError::LeaseLost` if another consumer has
    /// reclaimed it meanwhile (that consumer now owns it).
    fn ack<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), JobError>>;

    /// Gives the job back after a transient failure: it comes back after a backoff with its
    /// attempt incremented, or goes to the dead-letter stream with `error` when it has had
    /// `max_attempts` attempts. `JobError::LeaseLost` as for `ack`, and then nothing is
    /// scheduled, so a reclaimed job is never doubled.
    fn retry<'a>(
        &'a self,
        delivery: &'a Delivery,
        error: &'a str,
    ) -> BoxFuture<'a, Result<RetryOutcome, JobError>>;

    /// Sends the job straight to the dead-letter stream with `error`: for failures that no
    /// retry can fix (malformed job, unknown kind, a permanent refusal).
    fn fail<'a>(
        &'a self,
        delivery: &'a Delivery,
        error: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>>;

    /// Counts for metrics and health checks; a stream or group never used counts zero.
    fn stats<'a>(
        &'a self,
        stream: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<QueueStats, JobError>>;

    /// Dead letters of `stream`, oldest first, at most `max` (capped at `MAX_BATCH`),
    /// starting after the letter with id `after` so that a reader can page through them.
    fn dead_letters<'a>(
        &'a self,
        stream: &'a str,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, JobError>>;

    /// Removes the dead letter with id `id` from `stream`'s dead letters; `false` when there
    /// is none (already removed, or trimmed). An operator's replay enqueues the job again
    /// first and then removes its letter, so a crash in between leaves a letter to replay
    /// again rather than losing the job (the dedup key of the re-enqueued job keeps a
    /// second replay from doubling it).
    fn remove_dead_letter<'a>(
        &'a self,
        stream: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, JobError>>;
}

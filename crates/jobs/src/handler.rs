//! What a worker writes to do one kind of work: a `Handler`. Leasing, settling and what an
//! outcome means for the queue are the same for every worker and live in `Worker`.

use crate::{FromJob, Job};
use std::future::Future;

/// What handling a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing more to do (done, or found done already): the job is acknowledged.
    Done,
    /// Worth another try later (a service unavailable, a database that blinked): the job
    /// comes back after a backoff, until its attempts run out.
    Retry(String),
    /// No retry can help (the job cannot be read): the job becomes a dead letter now.
    Fail(String),
}

/// Does one kind of work. Handling must be idempotent: delivery is at least once.
pub trait Handler: Send + Sync + 'static {
    /// What the stream carries, typed.
    type Job: FromJob + Send + Sync;

    /// The span the job is handled and settled in. None by default, for a handler that
    /// opens its own once it has read more than the job says.
    fn span(&self, job: &Self::Job, leased: &Job) -> tracing::Span {
        let _ = (job, leased);
        tracing::Span::none()
    }

    /// One attempt at the job. `leased` is the job as the queue carries it (its id,
    /// attempt and trace context).
    fn handle(&self, job: &Self::Job, leased: &Job) -> impl Future<Output = Outcome> + Send;

    /// The job's retries ran out with `reason` and it is now a dead letter: record what
    /// that means for the work (e.g. mark it FAILED). Nothing by default.
    fn exhausted(
        &self,
        job: &Self::Job,
        leased: &Job,
        reason: &str,
    ) -> impl Future<Output = ()> + Send {
        let _ = (job, leased, reason);
        async {}
    }
}

//! The consuming loop every worker runs: lease jobs, read each as its handler's type, hand
//! it to the handler, settle it as the outcome says, and tell the handler when a job's
//! retries ran out.

use crate::{consume, Consumer, Delivery, FromJob, Handler, JobQueue, Outcome, RetryOutcome};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A handler on a queue.
pub struct Worker<H> {
    pub handler: H,
    pub queue: Arc<dyn JobQueue>,
    pub consumer: Consumer,
}

impl<H: Handler> Worker<H> {
    /// Keeps up to `consumer.concurrency` jobs in flight: a new job is taken as soon as one
    /// ends, so one slow job never holds back the others. At shutdown no new job is taken
    /// and those in flight finish, so that what they did is recorded.
    pub async fn run(self, shutdown: CancellationToken) {
        let queue = self.queue.clone();
        let consumer = self.consumer.clone();
        let this = Arc::new(self);
        consume(queue, consumer, shutdown, move |delivery| {
            let this = this.clone();
            async move {
                this.process_one(&delivery).await;
            }
        })
        .await;
    }

    /// One leased job through the handler, settled on the queue; returns what it came to.
    /// A job that cannot be read as the handler's type is a dead letter at once.
    pub async fn process_one(&self, delivery: &Delivery) -> Outcome {
        let job = match H::Job::from_job(&delivery.job) {
            Ok(job) => job,
            Err(err) => {
                let outcome = Outcome::Fail(err.to_string());
                self.settle(delivery, None, &outcome).await;
                return outcome;
            }
        };
        let span = self.handler.span(&job, &delivery.job);
        async {
            let outcome = self.handler.handle(&job, &delivery.job).await;
            self.settle(delivery, Some(&job), &outcome).await;
            outcome
        }
        .instrument(span)
        .await
    }

    async fn settle(&self, delivery: &Delivery, job: Option<&H::Job>, outcome: &Outcome) {
        let leased = &delivery.job;
        let settled = match outcome {
            Outcome::Done => self.queue.ack(delivery).await,
            Outcome::Fail(reason) => {
                tracing::error!(job = %leased.id, kind = %leased.kind, %reason, "job failed for good; dead-lettered");
                let failed = self.queue.fail(delivery, reason).await;
                if failed.is_ok() {
                    let why = if job.is_some() {
                        "refused"
                    } else {
                        "unreadable"
                    };
                    self.quarantined(why);
                }
                failed
            }
            Outcome::Retry(reason) => match self.queue.retry(delivery, reason).await {
                Ok(RetryOutcome::DeadLettered) => {
                    tracing::error!(job = %leased.id, kind = %leased.kind, %reason, "job out of retries; dead-lettered");
                    self.quarantined("retries_exhausted");
                    if let Some(job) = job {
                        self.handler.exhausted(job, leased, reason).await;
                    }
                    Ok(())
                }
                Ok(RetryOutcome::Scheduled { attempt, delay }) => {
                    tracing::info!(job = %leased.id, kind = %leased.kind, attempt, delay_ms = delay.as_millis() as u64, %reason, "job failed; retrying");
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(err) = settled {
            tracing::warn!(error = %err, job = %leased.id, kind = %leased.kind, "settling a job failed; it will be delivered again");
        }
    }

    /// Counts a job that went to the dead letters, by stream (without its environment
    /// suffix, e.g. `nod-jobs`) and why; `td-admin quarantine list` shows them.
    fn quarantined(&self, reason: &'static str) {
        metrics::counter!(
            "td_quarantined_total",
            "stage" => crate::stage_of(&self.consumer.stream),
            "reason" => reason
        )
        .increment(1);
    }
}

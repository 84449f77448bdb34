//! What settling a delivery means, decided once for both queues so they cannot disagree
//! about when a job has had its last attempt.

use crate::backoff::{jitter, retry_delay};
use crate::job::bounded_error;
use crate::{Delivery, Job, JobError, QueueConfig, RetryOutcome};
use std::future::Future;
use std::time::Duration;

/// The effect a consumer asks for; applied only if the consumer still holds the lease.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settle {
    /// Done: remove the job.
    Ack,
    /// Remove the job and bring `next` back after `delay`.
    Retry { next: Job, delay: Duration },
    /// Remove the job and keep it as a dead letter with `error`.
    Dead { error: String },
}

impl Settle {
    /// A dead letter with `error`, cut to size.
    pub(crate) fn dead(error: &str) -> Self {
        Self::Dead {
            error: bounded_error(error),
        }
    }
}

/// `JobQueue::retry` for either queue: plans the retry and has `settle` apply it.
pub(crate) async fn retry<F, Fut>(
    config: &QueueConfig,
    delivery: &Delivery,
    error: &str,
    settle: F,
) -> Result<RetryOutcome, JobError>
where
    F: FnOnce(Settle) -> Fut,
    Fut: Future<Output = Result<(), JobError>>,
{
    let (planned, outcome) = plan_retry(config, delivery, error);
    settle(planned).await?;
    Ok(outcome)
}

/// The settlement of a failed attempt: another attempt after a backoff, or a dead letter
/// once `max_attempts` attempts have failed.
pub(crate) fn plan_retry(
    config: &QueueConfig,
    delivery: &Delivery,
    error: &str,
) -> (Settle, RetryOutcome) {
    let attempt = delivery.job.attempt.max(1);
    if attempt >= config.max_attempts {
        return (Settle::dead(error), RetryOutcome::DeadLettered);
    }
    let delay = retry_delay(config, attempt, jitter());
    let next = Job {
        attempt: attempt + 1,
        ..delivery.job.clone()
    };
    let outcome = RetryOutcome::Scheduled {
        attempt: next.attempt,
        delay,
    };
    (Settle::Retry { next, delay }, outcome)
}

/// The error recorded for a job taken from consumers that went silent too often; the
/// Redis script writes the same words.
pub(crate) fn abandoned_error(deliveries: u32) -> String {
    format!("abandoned: delivered {deliveries} times without being settled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(attempt: u32) -> Delivery {
        Delivery {
            stream: "s".into(),
            group: "g".into(),
            consumer: "c".into(),
            entry_id: "0-1".into(),
            deliveries: 1,
            job: Job {
                attempt,
                ..Job::new("k", serde_json::json!(1))
            },
        }
    }

    #[test]
    fn attempts_below_the_limit_come_back_incremented() {
        let config = QueueConfig {
            max_attempts: 3,
            ..QueueConfig::default()
        };
        let (settle, outcome) = plan_retry(&config, &delivery(2), "boom");
        let Settle::Retry { next, .. } = settle else {
            panic!("expected a retry, got {settle:?}");
        };
        assert_eq!(next.attempt, 3);
        assert!(matches!(
            outcome,
            RetryOutcome::Scheduled { attempt: 3, .. }
        ));
    }

    #[test]
    fn the_last_attempt_is_dead_lettered() {
        let config = QueueConfig {
            max_attempts: 3,
            ..QueueConfig::default()
        };
        let (settle, outcome) = plan_retry(&config, &delivery(3), "boom");
        assert_eq!(
            settle,
            Settle::Dead {
                error: "boom".into()
            }
        );
        assert_eq!(outcome, RetryOutcome::DeadLettered);
    }
}

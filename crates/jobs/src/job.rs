use crate::{JobError, QueueConfig};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Longest error text kept with a retried or dead-lettered job: enough for a cause chain,
/// small enough that a chatty error cannot bloat the dead-letter stream.
pub(crate) const MAX_ERROR_BYTES: usize = 4096;
/// Longest accepted `dedup_key`; it becomes part of a Redis key name.
pub(crate) const MAX_DEDUP_KEY_BYTES: usize = 512;

/// One unit of work. The queue treats `kind` and `payload` as opaque; the worker that
/// consumes the stream decides what they mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Stable across retries, so that logs and traces of every attempt join up.
    pub id: String,
    /// What to do, e.g. `nod.place`; lets one stream carry a few related job types.
    pub kind: String,
    pub payload: serde_json::Value,
    /// 1 for the first attempt; the queue increments it on every retry.
    pub attempt: u32,
    /// W3C trace context of the request that caused the job, so that the worker's span
    /// joins the order's trace.
    pub traceparent: Option<String>,
    /// Jobs with the same key enqueued within the dedup window are added once: a producer
    /// that re-enqueues after a crash (redelivered order event) does not double the work.
    pub dedup_key: Option<String>,
}

impl Job {
    /// A first attempt with a fresh id.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            kind: kind.into(),
            payload,
            attempt: 1,
            traceparent: None,
            dedup_key: None,
        }
    }

    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    pub fn with_dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    /// Checks the bounds a job must respect before it is stored; returns the payload as
    /// JSON text, which is how both queues store it.
    pub(crate) fn checked_payload(&self, config: &QueueConfig) -> Result<String, JobError> {
        if let Some(key) = &self.dedup_key {
            if key.is_empty() || key.len() > MAX_DEDUP_KEY_BYTES {
                return Err(JobError::Invalid(format!(
                    "dedup_key must have 1 to {MAX_DEDUP_KEY_BYTES} bytes"
                )));
            }
        }
        let text = self.payload.to_string();
        if text.len() > config.max_payload_bytes {
            return Err(JobError::TooLarge {
                size: text.len(),
                limit: config.max_payload_bytes,
            });
        }
        Ok(text)
    }
}

/// Whether `enqueue` added the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Added,
    /// A job with the same `dedup_key` was enqueued within the dedup window; `job_id` is
    /// that job's id.
    Duplicate {
        job_id: String,
    },
}

/// A job leased to one consumer; settle it with `ack`, `retry` or `fail`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub stream: String,
    pub group: String,
    pub consumer: String,
    /// The stream entry; opaque, unique within the stream.
    pub entry_id: String,
    /// How often this entry has been handed out: 1 on first delivery, more when it was
    /// reclaimed from a consumer that went silent. Together with `consumer` it identifies
    /// the lease, so a consumer whose lease was reclaimed cannot settle the job.
    pub deliveries: u32,
    pub job: Job,
}

/// What `retry` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The job comes back as attempt `attempt` after `delay`.
    Scheduled { attempt: u32, delay: Duration },
    /// The job had its last attempt and is now a dead letter.
    DeadLettered,
}

/// A job that will not be tried again, kept with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The id in the dead-letter stream; pass it as `after` to read on.
    pub id: String,
    /// The group whose consumer gave up on the job.
    pub group: String,
    /// The job as of its last attempt.
    pub job: Job,
    /// The last attempt's error.
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

/// Counts of one stream as seen by one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting for a consumer.
    pub ready: u64,
    /// Leased to a consumer and not settled yet.
    pub pending: u64,
    /// Failed once at least, waiting for their retry.
    pub delayed: u64,
    /// In the dead-letter stream.
    pub dead: u64,
}

impl QueueStats {
    /// Work not finished yet: what `max_depth` bounds.
    pub fn depth(&self) -> u64 {
        self.ready + self.pending + self.delayed
    }
}

/// `error` cut to `MAX_ERROR_BYTES` on a character boundary.
pub(crate) fn bounded_error(error: &str) -> String {
    if error.len() <= MAX_ERROR_BYTES {
        return error.to_owned();
    }
    let mut end = MAX_ERROR_BYTES;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_BYTES);
        let cut = bounded_error(&long);
        assert!(cut.len() <= MAX_ERROR_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded_error("short"), "short");
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let config = QueueConfig {
            max_payload_bytes: 10,
            ..QueueConfig::default()
        };
        let job = Job::new("k", serde_json::json!({ "much": "too long" }));
        assert!(matches!(
            job.checked_payload(&config),
            Err(JobError::TooLarge { limit: 10, .. })
        ));
    }
}

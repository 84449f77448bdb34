use crate::JobError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a queue retries, reclaims and bounds its jobs. Every field has a default, so a
/// settings section may name only what it changes. Times are milliseconds, like the rest
/// of the project's settings, so that environment variables stay plain numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Backoff before the first retry; doubles with every further attempt.
    pub retry_base_ms: u64,
    /// Upper bound of one backoff, so that a job with many attempts still comes back.
    pub retry_max_ms: u64,
    /// Attempts a job gets, the first included, before it is dead-lettered. Also bounds how
    /// often one job may be reclaimed from crashed consumers (a job that kills its consumer
    /// must not kill them all).
    pub max_attempts: u32,
    /// How long a consumer may hold a job without ack, retry or fail before another
    /// consumer may take it over. Longer than the slowest honest attempt.
    pub visibility_timeout_ms: u64,
    /// Jobs a stream may hold (waiting, leased and scheduled for retry) before `enqueue`
    /// refuses: back-pressure on producers instead of unbounded memory in Redis.
    pub max_depth: u64,
    /// Approximate cap of a dead-letter stream. Dead letters are the record of failed work,
    /// so the cap is large; it exists so that a flood of bad jobs cannot fill Redis.
    pub dead_letter_max_len: u64,
    /// How long an enqueued `dedup_key` is remembered.
    pub dedup_window_ms: u64,
    /// Largest job payload, as JSON text.
    pub max_payload_bytes: usize,
    /// Redis only: connections reserved for blocking reads. A blocking read holds its
    /// connection for the whole wait, so it cannot share the command connection; this
    /// bounds how many receives may wait at once (more wait for a free connection).
    pub max_blocking_reads: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            retry_base_ms: 1_000,
            retry_max_ms: 5 * 60_000,
            max_attempts: 5,
            visibility_timeout_ms: 60_000,
            max_depth: 100_000,
            dead_letter_max_len: 100_000,
            dedup_window_ms: 24 * 3_600_000,
            max_payload_bytes: 1024 * 1024,
            max_blocking_reads: 16,
        }
    }
}

impl QueueConfig {
    /// Rejects settings that would make the queue spin, never retry or never hold a job;
    /// the error names the field.
    pub fn validate(&self) -> Result<(), JobError> {
        match self.first_invalid() {
            Some((field, reason)) => Err(JobError::Invalid(format!("{field} {reason}"))),
            None => Ok(()),
        }
    }

    /// The first field whose value the queue cannot work with, and what it must be.
    pub fn first_invalid(&self) -> Option<(&'static str, &'static str)> {
        let rules = [
            (
                self.retry_base_ms == 0,
                "retry_base_ms",
                "must be at least 1",
            ),
            (
                self.retry_max_ms < self.retry_base_ms,
                "retry_max_ms",
                "must be at least retry_base_ms",
            ),
            (self.max_attempts == 0, "max_attempts", "must be at least 1"),
            (
                self.visibility_timeout_ms == 0,
                "visibility_timeout_ms",
                "must be at least 1",
            ),
            (self.max_depth == 0, "max_depth", "must be at least 1"),
            (
                self.dead_letter_max_len == 0,
                "dead_letter_max_len",
                "must be at least 1",
            ),
            (
                self.dedup_window_ms == 0,
                "dedup_window_ms",
                "must be at least 1",
            ),
            (
                self.max_payload_bytes == 0,
                "max_payload_bytes",
                "must be at least 1",
            ),
            (
                self.max_blocking_reads == 0,
                "max_blocking_reads",
                "must be at least 1",
            ),
        ];
        rules
            .into_iter()
            .find(|(broken, _, _)| *broken)
            .map(|(_, field, reason)| (field, reason))
    }

    pub fn visibility_timeout(&self) -> Duration {
        Duration::from_millis(self.visibility_timeout_ms)
    }

    pub fn dedup_window(&self) -> Duration {
        Duration::from_millis(self.dedup_window_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_their_defaults() {
        let config: QueueConfig = serde_json::from_str(r#"{ "max_attempts": 3 }"#).unwrap();
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.retry_base_ms, QueueConfig::default().retry_base_ms);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<QueueConfig>(r#"{ "max_attempt": 3 }"#).is_err());
    }

    #[test]
    fn zero_attempts_is_refused_by_name() {
        let config = QueueConfig {
            max_attempts: 0,
            ..QueueConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("max_attempts"), "{err}");
    }
}

//! How to reach NOD and how hard to try. Durations are milliseconds, like every other
//! setting of the project, so they map onto plain environment variables.

use crate::error::ClientBuildError;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodClientSettings {
    /// Where the back office answers; `http://127.0.0.1:8090` is the local simulator.
    pub base_url: String,
    pub connect_timeout_ms: u64,
    /// Bound on one attempt, answer body included.
    pub request_timeout_ms: u64,
    pub retry: RetrySettings,
}

impl Default for NodClientSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8090".to_owned(),
            connect_timeout_ms: 2_000,
            request_timeout_ms: 10_000,
            retry: RetrySettings::default(),
        }
    }
}

/// Exponential backoff with full jitter: before retry n the client waits a random time
/// between zero and `initial_delay_ms * 2^(n-1)` (at most `max_delay_ms`), or as long as a
/// 429's `Retry-After` asks if that is longer. The random spread keeps many distributors
/// that failed together from coming back together.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per call, the first included; 1 disables retries.
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// No retry starts once this much time has passed since the first attempt began, nor
    /// a wait that would end after it. An attempt under way may still run to its timeout.
    pub max_elapsed_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay_ms: 200,
            max_delay_ms: 5_000,
            max_elapsed_ms: 30_000,
        }
    }
}

impl NodClientSettings {
    /// The base URL, checked; every other setting checked too, each error naming its key
    /// (`nod.retry.max_attempts`). Run when the settings are loaded and again when a client
    /// is built.
    pub fn validate(&self) -> Result<reqwest::Url, ClientBuildError> {
        let invalid = |key, reason: &str| ClientBuildError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| invalid("base_url", &format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid("base_url", "must be an http:// or https:// URL"));
        }
        if self.connect_timeout_ms == 0 {
            return Err(invalid("connect_timeout_ms", "must be at least 1"));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("request_timeout_ms", "must be at least 1"));
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts", "must be at least 1"));
        }
        if retry.initial_delay_ms == 0 {
            return Err(invalid("retry.initial_delay_ms", "must be at least 1"));
        }
        if retry.max_delay_ms < retry.initial_delay_ms {
            return Err(invalid(
                "retry.max_delay_ms",
                "must be at least retry.initial_delay_ms",
            ));
        }
        Ok(url)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fields_default_one_by_one() {
        NodClientSettings::default().validate().expect("defaults");
        let partial: NodClientSettings =
            serde_json::from_value(serde_json::json!({ "retry": { "max_attempts": 2 } })).unwrap();
        assert_eq!(partial.retry.max_attempts, 2);
        assert_eq!(partial.retry.max_delay_ms, 5_000);
        assert_eq!(partial.base_url, "http://127.0.0.1:8090");
    }

    #[test]
    fn a_bad_setting_is_named() {
        let bad = NodClientSettings {
            base_url: "ftp://nod".into(),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("nod.base_url"));
        let mut bad = NodClientSettings::default();
        bad.retry.max_attempts = 0;
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("nod.retry.max_attempts"));
    }
}

//! The retry policy as plain functions, so the rules are tested without a server: which
//! backoff sequence, how jitter and `Retry-After` combine, and when to give up.

use super::RetrySettings;
use backon::ExponentialBuilder;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// The un-jittered delay ceilings (initial, doubling, capped), one per retry. `backon`
/// stops the sequence after `max_attempts - 1` retries; jitter is applied by
/// [`next_delay`], because backon's own jitter adds to the delay instead of spreading it.
pub(crate) fn backoff(settings: &RetrySettings) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(settings.initial_delay_ms))
        .with_max_delay(Duration::from_millis(settings.max_delay_ms))
        .with_factor(2.0)
        .with_max_times(settings.max_attempts.saturating_sub(1) as usize)
}

/// How long to wait before the next attempt, or `None` to give up now.
///
/// `ceiling` is the backoff's next value (`None` when attempts are used up); `jitter` is
/// a uniform draw from [0, 1) that picks the wait below the ceiling (full jitter). A
/// `Retry-After` from NOD is a floor: waiting less would only earn another 429. A wait
/// that would end past the elapsed budget is not started, so the caller hears about the
/// outage now rather than after a pointless sleep.
pub(crate) fn next_delay(
    ceiling: Option<Duration>,
    retry_after: Option<Duration>,
    jitter: f64,
    elapsed: Duration,
    budget: Duration,
) -> Option<Duration> {
    let spread = ceiling?.mul_f64(jitter.clamp(0.0, 1.0));
    let delay = retry_after.map_or(spread, |floor| floor.max(spread));
    (elapsed.saturating_add(delay) <= budget).then_some(delay)
}

/// `Retry-After` in either form HTTP allows: delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn ceilings_double_up_to_the_cap_and_stop_after_the_attempts() {
        let settings = RetrySettings {
            max_attempts: 5,
            initial_delay_ms: 100,
            max_delay_ms: 300,
            max_elapsed_ms: 10_000,
        };
        // backon computes in f32, so compare whole milliseconds.
        let ceilings: Vec<_> = backoff(&settings).build().map(|d| d.as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 300, 300]);
        let once = RetrySettings {
            max_attempts: 1,
            ..settings
        };
        assert_eq!(backoff(&once).build().count(), 0);
    }

    #[test]
    fn full_jitter_spreads_below_the_ceiling() {
        let budget = MS(10_000);
        assert_eq!(
            next_delay(Some(MS(400)), None, 0.0, MS(0), budget),
            Some(MS(0))
        );
        assert_eq!(
            next_delay(Some(MS(400)), None, 0.5, MS(0), budget),
            Some(MS(200))
        );
        assert_eq!(next_delay(None, None, 0.5, MS(0), budget), None);
    }

    #[test]
    fn retry_after_is_a_floor_within_the_budget() {
        let budget = MS(5_000);
        assert_eq!(
            next_delay(Some(MS(400)), Some(MS(1_000)), 0.5, MS(0), budget),
            Some(MS(1_000))
        );
        assert_eq!(
            next_delay(Some(MS(400)), Some(MS(60_000)), 0.5, MS(0), budget),
            None
        );
        assert_eq!(
            next_delay(Some(MS(400)), None, 1.0, MS(4_900), budget),
            None
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Tue, 01 Jan 2030 00:00:03 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}

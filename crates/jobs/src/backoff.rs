use crate::QueueConfig;
use std::time::Duration;

/// The wait before the next attempt of a job whose attempt number `failed_attempt` (1 for
/// the first) has just failed: `retry_base_ms` doubled per earlier attempt, capped at
/// `retry_max_ms`, then jittered into its upper half by `unit` (a number in [0, 1)).
///
/// Jitter spreads the retries of jobs that failed together (NOD down for a minute) so that
/// they do not come back as one burst; keeping the lower half out gives every retry a
/// guaranteed minimum wait.
pub fn retry_delay(config: &QueueConfig, failed_attempt: u32, unit: f64) -> Duration {
    let doublings = failed_attempt.saturating_sub(1);
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    let capped = config
        .retry_base_ms
        .saturating_mul(factor)
        .min(config.retry_max_ms);
    let floor = capped / 2;
    let spread = (capped - floor) as f64 * unit.clamp(0.0, 1.0);
    Duration::from_millis(floor + spread as u64)
}

/// A fresh jitter unit.
pub(crate) fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QueueConfig {
        QueueConfig {
            retry_base_ms: 1_000,
            retry_max_ms: 10_000,
            ..QueueConfig::default()
        }
    }

    #[test]
    fn doubles_per_attempt_within_the_upper_half() {
        let c = config();
        assert_eq!(retry_delay(&c, 1, 0.0), Duration::from_millis(500));
        assert_eq!(retry_delay(&c, 1, 1.0), Duration::from_millis(1_000));
        assert_eq!(retry_delay(&c, 2, 0.0), Duration::from_millis(1_000));
        assert_eq!(retry_delay(&c, 3, 1.0), Duration::from_millis(4_000));
    }

    #[test]
    fn never_exceeds_the_cap_even_after_many_attempts() {
        let c = config();
        for attempt in [5, 20, 64, 65, u32::MAX] {
            let d = retry_delay(&c, attempt, 0.999);
            assert!(d <= Duration::from_millis(10_000), "{attempt}: {d:?}");
            assert!(d >= Duration::from_millis(5_000), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let c = config();
        assert_eq!(retry_delay(&c, 1, -3.0), Duration::from_millis(500));
        assert_eq!(retry_delay(&c, 1, 7.0), Duration::from_millis(1_000));
    }
}

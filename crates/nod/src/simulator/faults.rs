//! Injected misbehaviour of the back-office routes, so the client's handling of a slow,
//! failing or refusing NOD can be shown against a real server. Each kind has a rate for
//! soak runs and a "next N" counter for tests that must not depend on chance.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The body of `POST /simulator/faults`; it replaces the faults in force. Missing fields
/// are off. Field names are camelCase like the rest of the API; snake_case is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Added before every back-office answer.
    #[serde(alias = "latency_ms")]
    pub latency_ms: u64,
    /// Share of back-office requests answered 503.
    #[serde(alias = "error_rate")]
    pub error_rate: f64,
    /// The next N back-office requests are answered 503.
    #[serde(alias = "fail_next")]
    pub fail_next: u32,
    /// Share of back-office requests answered 422, a final rejection.
    #[serde(alias = "rejection_rate")]
    pub rejection_rate: f64,
    /// The next N back-office requests are answered 422.
    #[serde(alias = "reject_next")]
    pub reject_next: u32,
    /// Share of back-office requests answered 429 with `Retry-After`.
    #[serde(alias = "rate_limit_rate")]
    pub rate_limit_rate: f64,
    /// The next N back-office requests are answered 429 with `Retry-After`.
    #[serde(alias = "rate_limit_next")]
    pub rate_limit_next: u32,
    /// The `Retry-After` of a 429, in seconds (the header's unit).
    #[serde(alias = "retry_after_seconds")]
    pub retry_after_seconds: u64,
    /// Share of back-office requests that NOD carries out but whose answer is lost: the
    /// caller gets a 504 and cannot tell whether the request took effect.
    #[serde(alias = "lose_answer_rate")]
    pub lose_answer_rate: f64,
    /// The next N back-office requests are carried out and answered 504.
    #[serde(alias = "lose_answer_next")]
    pub lose_answer_next: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            fail_next: 0,
            rejection_rate: 0.0,
            reject_next: 0,
            rate_limit_rate: 0.0,
            rate_limit_next: 0,
            retry_after_seconds: 1,
            lose_answer_rate: 0.0,
            lose_answer_next: 0,
        }
    }
}

/// What a back-office request gets instead of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    RateLimited { retry_after_seconds: u64 },
    Unavailable,
    Rejected,
    AnswerLost,
}

const MAX_LATENCY_MS: u64 = 60_000;

impl Faults {
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("rejectionRate", self.rejection_rate),
            ("rateLimitRate", self.rate_limit_rate),
            ("loseAnswerRate", self.lose_answer_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!("latencyMs must be at most {MAX_LATENCY_MS}"));
        }
        Ok(())
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// Decides the fate of one request and uses up a counter if one applies. Rate limiting
    /// comes first, as a real gateway answers 429 before the service sees the request.
    pub(crate) fn draw(&mut self) -> Option<Injected> {
        let limited = Injected::RateLimited {
            retry_after_seconds: self.retry_after_seconds,
        };
        let order = [
            (&mut self.rate_limit_next, self.rate_limit_rate, limited),
            (&mut self.fail_next, self.error_rate, Injected::Unavailable),
            (
                &mut self.reject_next,
                self.rejection_rate,
                Injected::Rejected,
            ),
            (
                &mut self.lose_answer_next,
                self.lose_answer_rate,
                Injected::AnswerLost,
            ),
        ];
        for (next, rate, injected) in order {
            if *next > 0 {
                *next -= 1;
                return Some(injected);
            }
            if rate > 0.0 && fastrand::f64() < rate {
                return Some(injected);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_used_up_in_order() {
        let mut faults = Faults {
            rate_limit_next: 1,
            fail_next: 2,
            reject_next: 1,
            lose_answer_next: 1,
            retry_after_seconds: 3,
            ..Faults::default()
        };
        let drawn: Vec<_> = (0..6).map(|_| faults.draw()).collect();
        assert_eq!(
            drawn,
            vec![
                Some(Injected::RateLimited {
                    retry_after_seconds: 3
                }),
                Some(Injected::Unavailable),
                Some(Injected::Unavailable),
                Some(Injected::Rejected),
                Some(Injected::AnswerLost),
                None,
            ]
        );
    }

    #[test]
    fn rates_of_one_always_apply_and_bad_rates_are_refused() {
        let mut faults = Faults {
            error_rate: 1.0,
            ..Faults::default()
        };
        assert!((0..20).all(|_| faults.draw() == Some(Injected::Unavailable)));
        faults.error_rate = 1.5;
        assert!(faults.validate().is_err());
        let snake: Faults = serde_json::from_str(r#"{"error_rate":0.5,"reject_next":2}"#).unwrap();
        assert_eq!((snake.error_rate, snake.reject_next), (0.5, 2));
    }
}

//! The per-client rate limit at the edge of `/v1`: a token bucket (GCRA) per client, where a
//! client is the token's client (when authorisation is on) together with its
//! `ET-Client-Name`. A client over its rate is answered 429 with `Retry-After` (whole
//! seconds until its next request would be let through) and its request does nothing.

use crate::caller::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::middleware::CLIENT_NAME;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the state of clients that are back to a full bucket is dropped, so the table
/// holds only recently active clients.
const FORGET_EVERY: Duration = Duration::from_secs(10);

pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    started: Instant,
    last_forget_ms: AtomicU64,
}

impl RateLimit {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Arc<Self>> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Arc::new(Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            started: Instant::now(),
            last_forget_ms: AtomicU64::new(0),
        }))
    }

    /// `Ok` when `client` may make a request now, or how long it must wait.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        self.forget_idle();
        match self.limiter.check_key(&client.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(self.clock.now())),
        }
    }

    fn forget_idle(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_forget_ms.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= FORGET_EVERY.as_millis() as u64;
        if due
            && self
                .last_forget_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

/// Who the limit counts a request against.
fn client_key(request: &Request) -> String {
    let token_client = request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.client.clone())
        .unwrap_or_default();
    let name = request
        .headers()
        .get(CLIENT_NAME)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    format!("{token_client}\u{0}{name}")
}

/// The layer: lets the request through, or answers 429 with `Retry-After`.
pub async fn limit(State(limit): State<Arc<RateLimit>>, request: Request, next: Next) -> Response {
    let key = client_key(&request);
    match limit.check(&key) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!("td_http_rate_limited_total").increment(1);
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                ErrorCode::TooManyRequests,
                "This client made more requests than its rate allows. Retry after the time in Retry-After.",
            )
            .retry_after(secs)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_burst_waits_and_others_do_not() {
        let limit = RateLimit::new(1, 2).unwrap();
        assert!(limit.check("a").is_ok());
        assert!(limit.check("a").is_ok());
        let wait = limit.check("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limit.check("b").is_ok(),
            "another client has its own bucket"
        );
        assert!(RateLimit::new(0, 10).is_none(), "0 turns the limit off");
    }
}

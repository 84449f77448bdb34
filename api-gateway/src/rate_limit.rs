//! The per-client rate limit at the edge of `/v1`: a token bucket (GCRA) per caller, where
//! the caller is who it proved to be: the token's principal (`azp`, `client_id` or `sub`)
//! when authorisation is on, the peer's IP address otherwise. Nothing the caller merely
//! states (such as `ET-Client-Name`) picks the bucket, so it cannot be rotated to dodge the
//! limit. Requests without a valid token have a limit of their own, per peer address (see
//! `auth::authorise`). A caller over its rate is answered 429 with `Retry-After` (whole
//! seconds until its next request would be let through) and its request does nothing.

use crate::caller::Caller;
use crate::error::{ApiError, ErrorCode};
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

/// The peer's IP address (the port changes with every connection), or `unknown` where the
/// server did not record it.
pub fn peer_key(request: &Request) -> String {
    match request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        Some(info) => format!("peer:{}", info.0.ip()),
        None => "peer:unknown".to_owned(),
    }
}

/// Who the limit counts a request against: the authenticated principal, else the peer.
fn client_key(request: &Request) -> String {
    match request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.client.as_deref())
    {
        Some(principal) => format!("principal:{principal}"),
        None => peer_key(request),
    }
}

/// 429 `TOO_MANY_REQUESTS` with `Retry-After` for a caller that must wait `wait`.
pub fn too_many(wait: Duration) -> Response {
    metrics::counter!("td_http_rate_limited_total").increment(1);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        ErrorCode::TooManyRequests,
        "This client made more requests than its rate allows. Retry after the time in Retry-After.",
    )
    .retry_after(secs)
    .into_response()
}

/// The layer: lets the request through, or answers 429 with `Retry-After`.
pub async fn limit(State(limit): State<Arc<RateLimit>>, request: Request, next: Next) -> Response {
    let key = client_key(&request);
    match limit.check(&key) {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(wait),
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

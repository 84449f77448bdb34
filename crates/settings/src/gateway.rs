//! The `gateway` section: the public REST API's listener and limits.

use crate::error::{invalid, SettingsError};
use crate::Section;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The public REST API (and `/health/*` for load balancers).
    pub addr: SocketAddr,
    /// The operations port: `/health/*` and `/metrics`, kept out of the public Service.
    pub ops_addr: SocketAddr,
    /// A request not answered within this is answered 408 (`REQUEST_TIMEOUT`).
    pub request_timeout_ms: u64,
    /// A connection whose request headers take longer than this to arrive is closed.
    pub header_read_timeout_ms: u64,
    /// A database statement of the gateway running longer than this is cancelled (the
    /// request is answered 503).
    pub statement_timeout_ms: u64,
    pub body_limit_bytes: usize,
    /// How long a status answer may be served from memory before it is read again.
    pub status_cache_ttl_ms: u64,
    pub status_cache_capacity: u64,
    /// Base URL under which clients reach this API (links in e-mails).
    pub public_base_url: String,
    /// How long `createOrGet` waits for an order's tickets by default (at most
    /// `pdf_renderer.max_wait_ms`).
    pub pdf_wait_ms: u64,
    /// Most e-mail sends per order in an hour (the send endpoint answers 429 beyond).
    pub mail_sends_per_order_per_hour: u64,
    /// Most e-mail sends to one address in an hour.
    pub mail_sends_per_address_per_hour: u64,
    /// Requests per second one caller may make to `/v1` (the token's principal when
    /// authorisation is on, the peer address otherwise); 0 turns the limits off.
    pub rate_limit_per_second: u32,
    /// Requests a caller may make at once above its rate before it is answered 429.
    pub rate_limit_burst: u32,
    /// Requests per second without a valid token that one peer address may make before they
    /// are answered 429 instead of 401 (while authorisation is on).
    pub rate_limit_unauthenticated_per_second: u32,
    pub rate_limit_unauthenticated_burst: u32,
}

impl Section for GatewaySettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.body_limit_bytes == 0 {
            return Err(invalid("gateway.body_limit_bytes", "must be at least 1"));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("gateway.request_timeout_ms", "must be at least 1"));
        }
        if self.statement_timeout_ms == 0 {
            return Err(invalid(
                "gateway.statement_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.header_read_timeout_ms == 0 {
            return Err(invalid(
                "gateway.header_read_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.ops_addr == self.addr && self.addr.port() != 0 {
            return Err(invalid(
                "gateway.ops_addr",
                "must differ from gateway.addr: /metrics stays off the public port",
            ));
        }
        if self.rate_limit_per_second > 0 && self.rate_limit_burst == 0 {
            return Err(invalid(
                "gateway.rate_limit_burst",
                "must be at least 1 while the rate limit is on",
            ));
        }
        Ok(())
    }
}

//! The `gateway` section: the public REST API's listener and limits.

use crate::error::{invalid, SettingsError};
use crate::Section;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub addr: SocketAddr,
    pub request_timeout_ms: u64,
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
    /// Requests per second one client may make to `/v1` (a client is the token's client and
    /// the `ET-Client-Name`); 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above its rate before it is answered 429.
    pub rate_limit_burst: u32,
}

impl Section for GatewaySettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.body_limit_bytes == 0 {
            return Err(invalid("gateway.body_limit_bytes", "must be at least 1"));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("gateway.request_timeout_ms", "must be at least 1"));
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

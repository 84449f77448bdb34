//! The sections of order-listener (`order_listener`) and nod-distributor
//! (`nod_distributor`).

use crate::error::{invalid, SettingsError};
use crate::Section;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderListenerSettings {
    /// HTTP address for `/health/*` and `/metrics`.
    pub health_addr: SocketAddr,
    /// Most order events taken from Kafka before they are recorded and committed.
    pub batch_max_messages: usize,
    /// Most bytes (keys, payloads and headers) of order events held in one batch; a single
    /// larger event still forms a batch of its own.
    pub batch_max_bytes: usize,
}

impl Section for OrderListenerSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.batch_max_messages == 0 {
            return Err(invalid(
                "order_listener.batch_max_messages",
                "must be at least 1",
            ));
        }
        if self.batch_max_bytes == 0 {
            return Err(invalid(
                "order_listener.batch_max_bytes",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodDistributorSettings {
    pub health_addr: SocketAddr,
    /// NOD jobs handled at once by one replica.
    pub concurrency: usize,
    /// How often the dispatcher looks for tickets due for a NOD job.
    pub dispatch_interval_ms: u64,
    /// A ticket still waiting this long after its job was enqueued gets a new job (the
    /// first was lost or is stuck).
    pub redispatch_after_ms: u64,
    /// How often the NOD transaction feed is read when it had nothing new.
    pub feed_interval_ms: u64,
    /// Feed entries read per request.
    pub feed_page: u32,
    /// While NOD is unavailable a ticket waits about as long as it has already waited
    /// before its next placement attempt, at least a second and at most this long.
    pub unavailable_retry_max_ms: u64,
    /// A new ticket NOD could not take for this long is FAILED (`NOD_UNAVAILABLE`), so the
    /// status answers say so; it is still placed automatically once NOD answers again.
    pub unavailable_horizon_ms: u64,
}

impl Section for NodDistributorSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.concurrency == 0 {
            return Err(invalid("nod_distributor.concurrency", "must be at least 1"));
        }
        if self.feed_page == 0 || self.feed_page > 1000 {
            return Err(invalid("nod_distributor.feed_page", "must be 1 to 1000"));
        }
        if self.unavailable_retry_max_ms < 1000 {
            return Err(invalid(
                "nod_distributor.unavailable_retry_max_ms",
                "must be at least 1000",
            ));
        }
        if self.unavailable_horizon_ms < self.unavailable_retry_max_ms {
            return Err(invalid(
                "nod_distributor.unavailable_horizon_ms",
                "must be at least nod_distributor.unavailable_retry_max_ms",
            ));
        }
        Ok(())
    }
}

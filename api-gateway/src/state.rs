use crate::status_cache::StatusCache;
use std::sync::Arc;
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_runtime::InternalChannel;
use td_store::DatabaseConnection;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// Present on PostgreSQL, where status changes are announced; absent on SQLite.
    pub status_cache: Option<Arc<StatusCache>>,
    /// pdf-renderer's `PdfRenderer` service.
    pub pdf_renderer: PdfRendererClient<InternalChannel>,
    /// How long createOrGet waits for an order's groups.
    pub pdf_wait_ms: u64,
    pub mail_limits: MailLimits,
}

/// The send endpoint's limits per hour.
#[derive(Debug, Clone, Copy)]
pub struct MailLimits {
    pub per_order_per_hour: u64,
    pub per_address_per_hour: u64,
}

//! Renders one PDF per TicketDistributionGroup with typst (one sheet and one QR code per ticket), stores it, and serves `PdfRenderer` over gRPC.
//!
//! So far this worker starts, answers `/health/live` and `/health/ready` (the database
//! answers) and stops cleanly on SIGTERM. Rendering arrives with the PDF issue; nothing here renders yet.

use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_runtime::{health_routes, HttpServer, ReadinessCheck};
use td_settings::Settings;
use td_store::DatabaseConnection;
use tokio_util::sync::CancellationToken;

pub struct App {
    health: HttpServer,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = td_store::connect(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
            Duration::from_millis(settings.database.connect_timeout_ms),
        )
        .await?;
        let health = HttpServer::bind(
            settings.pdf_renderer.health_addr,
            health_routes(db_ready(db)),
        )
        .await?;
        Ok(Self { health })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(health = %self.health.local_addr(), "pdf-renderer started");
        self.health.run_until_stopped(shutdown).await
    }
}

fn db_ready(db: DatabaseConnection) -> ReadinessCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move { td_store::ping(&db).await.map_err(|e| e.to_string()) })
    })
}

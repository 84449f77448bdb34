//! Renders one PDF per TicketDistributionGroup with typst (one A4 sheet and one QR code per
//! valid ticket), stores it with its retention, and serves `PdfRenderer` over gRPC:
//! `CreateOrGet` (wait for the order's groups, return their PDFs, render only the missing
//! ones) and `Render` (one group, not stored). Expired PDFs are removed periodically.

pub mod document;
pub mod grpc;
pub mod render;
pub mod service;
pub mod watch;

pub use document::{qr_payload, Presentation, TicketDocument, TicketSheet};
pub use render::{RenderError, Renderer};
pub use service::{CreateOrGet, PdfError, PdfService};

/// The heap allocator the pdf-renderer binary runs with (and `scripts/bench-pdf` renders
/// with): a render makes and frees hundreds of thousands of small objects (typst's content,
/// layout and cache entries, the PDF's streams), and mimalloc serves them from per-thread
/// pages faster than glibc's malloc (alternating runs of 4-page documents: 6-8 % more pages
/// per second on one and on two threads, 1-page documents 8 %). The embedded default keeps
/// the system allocator.
pub use mimalloc::MiMalloc as Allocator;

use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::time::Duration;
use td_proto::v1::pdf_renderer_server::PdfRendererServer;
use td_runtime::{Component, WorkerProcess};
use td_settings::{PdfRendererSettings, Settings};
use td_store::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The renderer's service on a database, as the settings describe it (for the worker
/// binary and the embedded default alike). Starts following order notifications.
pub fn service_from_settings(
    db: DatabaseConnection,
    settings: &PdfRendererSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<PdfService> {
    let time_zone = settings.time_zone;
    let operator_names = settings.operator_names_by_id();
    let watch = watch::OrderWatch::start(&db, shutdown);
    Ok(PdfService::new(
        db,
        watch,
        Presentation {
            time_zone,
            operator_names,
        },
        service::Bounds {
            render_concurrency: settings.render_concurrency,
            max_waiting: settings.max_waiting,
            max_wait: Duration::from_millis(settings.max_wait_ms),
        },
        chrono::Duration::days(i64::from(settings.retention_days)),
    ))
}

pub fn grpc_service(service: PdfService) -> PdfRendererServer<grpc::PdfRendererService> {
    // Four-page PDFs with their fonts are a few hundred kB; leave room for large groups.
    PdfRendererServer::new(grpc::PdfRendererService { service })
        .max_encoding_message_size(64 * 1024 * 1024)
}

/// Removes expired PDFs every `interval` until shutdown.
pub async fn run_cleanup(service: PdfService, interval: Duration, shutdown: CancellationToken) {
    loop {
        match service.remove_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired PDF tickets removed"),
            Err(e) => tracing::warn!(error = %e, "removing expired PDF tickets failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

pub struct App {
    db: DatabaseConnection,
    settings: PdfRendererSettings,
    process: WorkerProcess,
    grpc: TcpListener,
    token: td_runtime::InternalToken,
    extra: Vec<Component>,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        settings.check_secrets_fit_for_use()?;
        let db = td_store::open(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
            settings.database.connect_timeout(),
            settings.database.migrate_on_start,
        )
        .await
        .context("opening the database")?;
        let process = WorkerProcess::bind(
            settings.pdf_renderer.health_addr,
            td_runtime::ready_while(db.clone(), |db| async move { td_store::ping(&db).await }),
            settings.shutdown.drain_deadline(),
        )
        .await?;
        let addr = settings.pdf_renderer.grpc_addr;
        let grpc = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for gRPC on {addr}"))?;
        Ok(Self {
            db,
            settings: settings.pdf_renderer.clone(),
            process,
            grpc,
            token: td_runtime::InternalToken::new(settings.grpc_token())?,
            extra: Vec::new(),
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.process.health_addr()
    }

    /// Where the gRPC service listens (port 0 in the settings picks a free one).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Runs `component` beside the renderer's own, under the same rules: tests plant a
    /// component that dies to see the process stop.
    pub fn with_component(mut self, component: Component) -> Self {
        self.extra.push(component);
        self
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let service = service_from_settings(self.db.clone(), &self.settings, shutdown.clone())?;
        tracing::info!(
            health = %self.process.health_addr(),
            grpc = %self.grpc.local_addr()?,
            "pdf-renderer started"
        );
        let mut components = vec![
            Component::looping(
                "cleanup",
                run_cleanup(
                    service.clone(),
                    Duration::from_millis(self.settings.cleanup_interval_ms),
                    shutdown.clone(),
                ),
            ),
            Component::new(
                "gRPC server",
                td_runtime::serve_grpc(
                    self.grpc,
                    grpc_service(service),
                    self.token,
                    shutdown.clone(),
                ),
            ),
        ];
        components.extend(self.extra);
        self.process.serve(components, shutdown).await
    }
}

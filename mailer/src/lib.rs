//! Consumes mail jobs, fetches PDFs from pdf-renderer and sends them over SMTP with lettre, recording delivery state.
//!
//! So far this worker starts, answers `/health/live` and `/health/ready` (the database
//! answers) and stops cleanly on SIGTERM. The mail itself is ready but not yet wired to jobs:
//! [`message`] builds the ticket e-mail (localised bodies, PDF attachments or links, checked
//! headers) and [`smtp`] sends it over a pooled SMTP connection, telling transient failures
//! from permanent ones.

pub mod message;
pub mod smtp;

pub use message::{
    attachments_fit, build_message, message_size, parse_recipient, sanitize_filename, Attachment,
    MailError, MailFrom, TicketMail,
};
pub use smtp::{parse_queue_id, SendError, Sent, SmtpOptions, SmtpSender, SmtpUrlError};

use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::time::Duration;
use td_runtime::{health_routes, HttpServer};
use td_settings::Settings;
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
            settings.mailer.health_addr,
            health_routes(td_runtime::database_ready(db)),
        )
        .await?;
        Ok(Self { health })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(health = %self.health.local_addr(), "mailer started");
        self.health.run_until_stopped(shutdown).await
    }
}

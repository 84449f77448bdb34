//! Delivers e-mail sends of PDF tickets. A dispatcher turns the sends the gateway recorded
//! into mail jobs on a Redis stream; workers take them, get the PDFs from pdf-renderer over
//! gRPC (making them when missing), build the message ([`message`]) and send it over a
//! pooled SMTP connection ([`smtp`]), recording SENT before the job is acknowledged
//! ([`jobs`]). The embedded default writes `.eml` files instead ([`transport`]).

pub mod jobs;
pub mod message;
pub mod smtp;
pub mod transport;

pub use jobs::{streams, Dispatcher, DueSends, MailConfig, MailHandler, SendMail, Streams, Worker};
pub use message::{
    attachments_fit, build_message, message_size, parse_recipient, sanitize_filename, Attachment,
    MailError, MailFrom, TicketMail,
};
pub use smtp::{parse_queue_id, SendError, Sent, SmtpOptions, SmtpSender, SmtpUrlError};
pub use transport::{EmlDirectory, Transport};

use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_jobs::{JobQueue, RedisQueue};
use td_proto::v1::pdf_renderer_client::PdfRendererClient;
use td_runtime::InternalChannel;
use td_runtime::{Component, WorkerProcess};
use td_settings::Settings;
use td_store::DatabaseConnection;
use tokio_util::sync::CancellationToken;

/// What every mail looks like and how long an attempt may wait, from the settings.
pub fn mail_config(settings: &Settings) -> MailConfig {
    let m = &settings.mailer;
    let domain = m.message_id_domain.clone().unwrap_or_else(|| {
        m.from_address
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "localhost".to_owned())
    });
    MailConfig {
        from: MailFrom {
            address: m.from_address.clone(),
            name: m.from_name.clone(),
        },
        message_id_domain: domain,
        max_message_bytes: m.max_message_bytes,
        public_base_url: settings.gateway.public_base_url.clone(),
        pdf_wait: Duration::from_millis(m.pdf_wait_ms),
        stale_after: Duration::from_millis(settings.jobs.visibility_timeout_ms),
        give_up_after: Duration::from_millis(m.give_up_after_ms),
    }
}

/// A client of pdf-renderer at `url` (`http://host:port`), connecting on first use.
pub fn pdf_client(
    url: &str,
    token: &td_runtime::InternalToken,
) -> anyhow::Result<PdfRendererClient<InternalChannel>> {
    Ok(
        PdfRendererClient::new(td_runtime::internal_channel(url, "pdf-renderer", token)?)
            .max_decoding_message_size(64 * 1024 * 1024),
    )
}

/// The parts of the mailer, for the worker binary and the embedded default alike.
pub struct Mailer {
    pub db: DatabaseConnection,
    pub queue: Arc<dyn JobQueue>,
    pub pdfs: PdfRendererClient<InternalChannel>,
    pub transport: Arc<dyn Transport>,
    pub streams: Streams,
    pub consumer: String,
    pub settings: Settings,
}

impl Mailer {
    /// Runs the dispatcher and the workers until shutdown; deliveries in flight finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let m = &self.settings.mailer;
        let dispatcher = Dispatcher {
            due: DueSends {
                db: self.db.clone(),
                redispatch_after: Duration::from_millis(m.redispatch_after_ms),
            },
            queue: self.queue.clone(),
            stream: self.streams.stream.clone(),
            batch: 500,
        };
        let worker = Worker {
            handler: MailHandler {
                db: self.db.clone(),
                pdfs: self.pdfs.clone(),
                transport: self.transport.clone(),
                config: mail_config(&self.settings),
            },
            queue: self.queue.clone(),
            consumer: self.streams.consumer(&self.consumer, m.concurrency),
        };
        tokio::join!(
            dispatcher.run(
                Duration::from_millis(m.dispatch_interval_ms),
                shutdown.clone()
            ),
            worker.run(shutdown.clone()),
        );
    }
}

/// The worker binary: sends on Redis, mail over SMTP.
pub struct App {
    mailer: Mailer,
    smtp: Arc<SmtpSender>,
    process: WorkerProcess,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        settings.check_mail_attempt_fits_lease()?;
        let db = td_store::open(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
            settings.database.connect_timeout(),
            settings.database.migrate_on_start,
        )
        .await
        .context("opening the database")?;
        let queue: Arc<dyn JobQueue> = Arc::new(
            RedisQueue::connect(settings.redis.url.expose_secret(), settings.jobs.clone())
                .await
                .context("connecting to Redis")?,
        );
        let m = &settings.mailer;
        let options = SmtpOptions {
            connect_timeout: Duration::from_millis(m.connect_timeout_ms),
            send_timeout: Duration::from_millis(m.send_timeout_ms),
            pool_max_size: m.pool_max_size,
            ..SmtpOptions::default()
        };
        let smtp = Arc::new(
            SmtpSender::from_url(m.smtp_url.expose_secret(), &options)
                .context("setting mailer.smtp_url (TD__MAILER__SMTP_URL)")?,
        );
        let pdfs = pdf_client(
            &settings.pdf_renderer_url(),
            &td_runtime::InternalToken::new(settings.grpc_token())?,
        )?;
        let process = WorkerProcess::bind(
            m.health_addr,
            td_runtime::ready_while(db.clone(), |db| async move { td_store::ping(&db).await }),
            settings.shutdown.drain_deadline(),
        )
        .await?;
        let consumer =
            std::env::var("HOSTNAME").unwrap_or_else(|_| format!("mailer-{}", std::process::id()));
        Ok(Self {
            mailer: Mailer {
                db,
                queue,
                pdfs,
                transport: smtp.clone(),
                streams: streams(&settings.environment),
                consumer,
                settings: settings.clone(),
            },
            smtp,
            process,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.process.health_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            health = %self.process.health_addr(),
            stream = %self.mailer.streams.stream,
            "mailer started"
        );
        let result = self
            .process
            .serve(
                vec![Component::looping(
                    "mail work",
                    self.mailer.run(shutdown.clone()),
                )],
                shutdown,
            )
            .await;
        self.smtp.shutdown().await;
        result
    }
}

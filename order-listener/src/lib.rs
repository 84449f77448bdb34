//! Consumes order events from Kafka, records each order version and generates its
//! TicketDistributionGroups in one transaction, and relays the transactional outbox to
//! Kafka. Bad events go to the dead-letter topic; nothing here talks to NOD, renders or
//! mails, and nothing here serves gRPC.

pub mod batch;
pub mod consumer;
pub mod dead_letter;
pub mod intake;
pub mod relay;

use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_bus::{KafkaSink, MessageSink};
use td_runtime::{Component, WorkerProcess};
use td_settings::Settings;
use td_store::DatabaseConnection;
use tokio_util::sync::CancellationToken;

pub use intake::{Incoming, Intake, IntakeOutcome};
pub use relay::Relay;

/// How often an idle relay looks for new outbox events.
pub const RELAY_IDLE: Duration = Duration::from_millis(20);

/// The distributed worker: Kafka consumer, outbox relay and health.
pub struct App {
    settings: Settings,
    db: DatabaseConnection,
    sink: Arc<KafkaSink>,
    process: WorkerProcess,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = td_store::open(
            settings.database.url.expose_secret(),
            settings.database.max_connections,
            settings.database.connect_timeout(),
            settings.database.migrate_on_start,
        )
        .await
        .context("opening the database")?;
        let sink = Arc::new(KafkaSink::new(&settings.kafka)?);
        let process = WorkerProcess::bind(
            settings.order_listener.health_addr,
            td_runtime::ready_while(db.clone(), |db| async move { td_store::ping(&db).await }),
            settings.shutdown.drain_deadline(),
        )
        .await?;
        Ok(Self {
            settings: settings.clone(),
            db,
            sink,
            process,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.process.health_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let dead_letters: Arc<dyn MessageSink> = self.sink.clone();
        let intake = Arc::new(
            Intake::new(
                self.db.clone(),
                dead_letters,
                self.settings.topic("order-events") + "-dlq",
                self.settings.intake.clone(),
            )
            .with_dead_letter_max_bytes(
                // Checked when the settings were loaded.
                self.settings
                    .kafka
                    .producer_message_max_bytes()
                    .unwrap_or(td_bus::DEFAULT_MESSAGE_MAX_BYTES),
            ),
        );
        let consumer = consumer::create(&self.settings)?;
        let bounds = batch::BatchBounds {
            max_messages: self.settings.order_listener.batch_max_messages,
            max_bytes: self.settings.order_listener.batch_max_bytes,
        };
        let relay_sink: Arc<dyn MessageSink> = self.sink.clone();
        let relay = Relay::new(
            self.db.clone(),
            relay_sink,
            self.settings.environment.clone(),
        );
        tracing::info!(
            health = %self.process.health_addr(),
            topic = %self.settings.topic("order-events"),
            "order-listener started"
        );

        // Intake stops first (its offsets are committed), then the relay, then the
        // producer flushes what it still holds.
        let result = self
            .process
            .serve(
                vec![
                    Component::looping(
                        "Kafka consumer",
                        consumer::run(consumer, intake, bounds, shutdown.clone()),
                    ),
                    Component::looping("outbox relay", relay.run(RELAY_IDLE, shutdown.clone())),
                ],
                shutdown,
            )
            .await;
        self.sink.flush(Duration::from_secs(5));
        result
    }
}

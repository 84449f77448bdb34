//! Consumes order events from Kafka, records each order version and generates its
//! TicketDistributionGroups in one transaction, and relays the transactional outbox to
//! Kafka. Bad events go to the dead-letter topic; nothing here talks to NOD, renders or
//! mails, and nothing here serves gRPC.

pub mod consumer;
pub mod intake;
pub mod relay;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_bus::{KafkaSink, MessageSink};
use td_runtime::{health_routes, HttpServer};
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
    health: HttpServer,
}

impl App {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = td_store::open(&settings.database, settings.database.migrate_on_start)
            .await
            .context("opening the database")?;
        let sink = Arc::new(KafkaSink::new(&settings.kafka)?);
        let health = HttpServer::bind(
            settings.order_listener.health_addr,
            health_routes(td_runtime::database_ready(db.clone())),
        )
        .await?;
        Ok(Self {
            settings: settings.clone(),
            db,
            sink,
            health,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let dead_letters: Arc<dyn MessageSink> = self.sink.clone();
        let intake = Arc::new(Intake::new(
            self.db.clone(),
            dead_letters,
            self.settings.topic("order-events") + "-dlq",
        ));
        let consumer = consumer::create(&self.settings)?;
        let relay_sink: Arc<dyn MessageSink> = self.sink.clone();
        let relay = Relay::new(
            self.db.clone(),
            relay_sink,
            self.settings.environment.clone(),
        );
        tracing::info!(
            health = %self.health.local_addr(),
            topic = %self.settings.topic("order-events"),
            "order-listener started"
        );

        let consuming = tokio::spawn(consumer::run(consumer, intake, shutdown.clone()));
        let relaying = tokio::spawn(relay.run(RELAY_IDLE, shutdown.clone()));
        let health = self.health.run_until_stopped(shutdown.clone());
        let health_result = health.await;

        // Intake stops first (its offsets are committed), then the relay, then the
        // producer flushes what it still holds.
        let drain = Duration::from_millis(self.settings.shutdown.drain_deadline_ms);
        let drained = tokio::time::timeout(drain, async {
            let _ = consuming.await;
            let _ = relaying.await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "drain deadline passed; stopping with work in flight (it will be redelivered)"
            );
        }
        self.sink.flush(Duration::from_secs(5));
        health_result
    }
}

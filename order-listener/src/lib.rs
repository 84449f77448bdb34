//! Consumes order events from Kafka, records each order version and generates its
//! TicketDistributionGroups in one transaction, serves `Generation.Generate` over gRPC,
//! and relays the transactional outbox to Kafka. Bad events go to the dead-letter topic;
//! nothing here talks to NOD, renders or mails.

pub mod consumer;
pub mod grpc;
pub mod intake;
pub mod relay;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_bus::{KafkaSink, MessageSink};
use td_proto::v1::generation_server::GenerationServer;
use td_runtime::{health_routes, HttpServer};
use td_settings::Settings;
use td_store::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use intake::{Incoming, Intake, IntakeOutcome};
pub use relay::Relay;

/// How often an idle relay looks for new outbox events.
pub const RELAY_IDLE: Duration = Duration::from_millis(20);

/// A bound gRPC server for `Generation` (with gRPC health checking).
pub struct GrpcServer {
    listener: TcpListener,
    db: DatabaseConnection,
    token: td_runtime::InternalToken,
}

impl GrpcServer {
    pub async fn bind(
        addr: SocketAddr,
        db: DatabaseConnection,
        token: td_runtime::InternalToken,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for gRPC on {addr}"))?;
        Ok(Self {
            listener,
            db,
            token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        td_runtime::serve_grpc(
            self.listener,
            GenerationServer::new(grpc::GenerationService::new(self.db)),
            self.token,
            shutdown,
        )
        .await
    }
}

/// The distributed worker: Kafka consumer, outbox relay, gRPC and health.
pub struct App {
    settings: Settings,
    db: DatabaseConnection,
    sink: Arc<KafkaSink>,
    health: HttpServer,
    grpc: GrpcServer,
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
        let grpc = GrpcServer::bind(
            settings.order_listener.grpc_addr,
            db.clone(),
            td_runtime::InternalToken::new(settings.grpc_token())?,
        )
        .await?;
        Ok(Self {
            settings: settings.clone(),
            db,
            sink,
            health,
            grpc,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr()
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
            grpc = %self.grpc.local_addr(),
            topic = %self.settings.topic("order-events"),
            "order-listener started"
        );

        let consuming = tokio::spawn(consumer::run(consumer, intake, shutdown.clone()));
        let relaying = tokio::spawn(relay.run(RELAY_IDLE, shutdown.clone()));
        let grpc = tokio::spawn(self.grpc.run_until_stopped(shutdown.clone()));
        let health = self.health.run_until_stopped(shutdown.clone());
        let health_result = health.await;

        // Intake stops first (its offsets are committed), then the relay, then the
        // producer flushes what it still holds.
        let drain = Duration::from_millis(self.settings.shutdown.drain_deadline_ms);
        let drained = tokio::time::timeout(drain, async {
            let _ = consuming.await;
            let _ = relaying.await;
            let _ = grpc.await;
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

//! Places tickets in NOD, cancels them there, and follows NOD's transaction feed to record
//! pickups, activations, outside cancellations and expiry. Work arrives as jobs on a Redis
//! stream, fed by a dispatcher from what PostgreSQL says is due (see `jobs`); the gateway's
//! distribute endpoint reaches it over gRPC (`Distributor.Distribute`).

pub mod feed;
pub mod grpc;
pub mod jobs;

use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_jobs::{JobQueue, RedisQueue};
use td_nod::{Nod, NodClient};
use td_proto::v1::distributor_server::DistributorServer;
use td_runtime::{health_routes, Component, HttpServer, Tripwire};
use td_settings::{NodDistributorSettings, Settings};
use td_store::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use feed::FeedFollower;
pub use jobs::{Dispatcher, Streams, Worker};

/// The parts of the distributor, for the worker binary and the embedded default alike.
pub struct Distributor {
    pub db: DatabaseConnection,
    pub queue: Arc<dyn JobQueue>,
    pub nod: Arc<dyn Nod>,
    pub streams: Streams,
    pub settings: NodDistributorSettings,
    pub consumer: String,
}

impl Distributor {
    /// Runs the dispatcher, the job workers and the feed follower until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let s = &self.settings;
        let dispatcher = Dispatcher {
            db: self.db.clone(),
            queue: self.queue.clone(),
            streams: self.streams.clone(),
            redispatch_after: Duration::from_millis(s.redispatch_after_ms),
            batch: 500,
        };
        let worker = Worker {
            db: self.db.clone(),
            queue: self.queue.clone(),
            nod: self.nod.clone(),
            streams: self.streams.clone(),
            consumer: self.consumer.clone(),
            concurrency: s.concurrency,
        };
        let feed = FeedFollower {
            db: self.db.clone(),
            nod: self.nod.clone(),
            page: s.feed_page,
        };
        tokio::join!(
            dispatcher.run(
                Duration::from_millis(s.dispatch_interval_ms),
                shutdown.clone()
            ),
            worker.run(shutdown.clone()),
            feed.run(Duration::from_millis(s.feed_interval_ms), shutdown.clone()),
        );
    }

    pub fn grpc_service(&self) -> DistributorServer<grpc::DistributorService> {
        DistributorServer::new(grpc::DistributorService {
            db: self.db.clone(),
            queue: self.queue.clone(),
            streams: self.streams.clone(),
        })
    }
}

/// The worker binary: NOD over HTTP, jobs on Redis.
pub struct App {
    distributor: Distributor,
    health: HttpServer,
    grpc: TcpListener,
    token: td_runtime::InternalToken,
    tripwire: Tripwire,
    drain: Duration,
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
        let queue: Arc<dyn JobQueue> = Arc::new(
            RedisQueue::connect(settings.redis.url.expose_secret(), settings.jobs.clone())
                .await
                .context("connecting to Redis")?,
        );
        let tripwire = Tripwire::new();
        let nod: Arc<dyn Nod> =
            Arc::new(NodClient::new(&settings.nod).context("the NOD client settings")?);
        let health = HttpServer::bind(
            settings.nod_distributor.health_addr,
            health_routes(
                tripwire.guard(td_runtime::ready_while(db.clone(), |db| async move {
                    td_store::ping(&db).await
                })),
            ),
        )
        .await?;
        let addr = settings.nod_distributor.grpc_addr;
        let grpc = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for gRPC on {addr}"))?;
        let consumer = std::env::var("HOSTNAME")
            .unwrap_or_else(|_| format!("nod-distributor-{}", std::process::id()));
        Ok(Self {
            distributor: Distributor {
                db,
                queue,
                nod,
                streams: Streams::for_environment(&settings.environment),
                settings: settings.nod_distributor.clone(),
                consumer,
            },
            health,
            grpc,
            token: td_runtime::InternalToken::new(settings.grpc_token())?,
            tripwire,
            drain: settings.shutdown.drain_deadline(),
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            health = %self.health.local_addr(),
            grpc = %self.grpc.local_addr()?,
            stream = %self.distributor.streams.stream,
            "nod-distributor started"
        );
        let service = self.distributor.grpc_service();
        td_runtime::serve(
            vec![
                Component::new(
                    "gRPC server",
                    td_runtime::serve_grpc(self.grpc, service, self.token, shutdown.clone()),
                ),
                Component::looping("NOD work", self.distributor.run(shutdown.clone())),
                Component::new(
                    "health server",
                    self.health.run_until_stopped(shutdown.clone()),
                ),
            ],
            &self.tripwire,
            shutdown,
            self.drain,
        )
        .await
    }
}

//! Places tickets in NOD, cancels them there, and follows NOD's transaction feed to record
//! pickups, activations, outside cancellations and expiry. Work arrives as jobs on a Redis
//! stream, fed by a dispatcher from what PostgreSQL says is due (see `jobs`). The gateway's
//! distribute endpoint never calls it: it marks FAILED tickets for placement in the store,
//! and the dispatcher finds them due like any other.

pub mod feed;
pub mod jobs;

use anyhow::Context;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use td_jobs::{JobQueue, RedisQueue};
use td_nod::{Nod, NodClient};
use td_runtime::{Component, WorkerProcess};
use td_settings::{NodDistributorSettings, Settings};
use td_store::DatabaseConnection;
use tokio_util::sync::CancellationToken;

pub use feed::FeedFollower;
pub use jobs::{streams, Dispatcher, DueTickets, NodHandler, Streams, Unavailable, Worker};

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
            due: DueTickets {
                db: self.db.clone(),
                redispatch_after: Duration::from_millis(s.redispatch_after_ms),
            },
            queue: self.queue.clone(),
            stream: self.streams.stream.clone(),
            batch: 500,
        };
        let worker = Worker {
            handler: NodHandler {
                db: self.db.clone(),
                nod: self.nod.clone(),
                unavailable: Unavailable {
                    retry_max: Duration::from_millis(s.unavailable_retry_max_ms),
                    horizon: Duration::from_millis(s.unavailable_horizon_ms),
                },
            },
            queue: self.queue.clone(),
            consumer: self.streams.consumer(&self.consumer, s.concurrency),
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
}

/// The worker binary: NOD over HTTP, jobs on Redis.
pub struct App {
    distributor: Distributor,
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
        let queue: Arc<dyn JobQueue> = Arc::new(
            RedisQueue::connect(settings.redis.url.expose_secret(), settings.jobs.clone())
                .await
                .context("connecting to Redis")?,
        );
        let nod: Arc<dyn Nod> =
            Arc::new(NodClient::new(&settings.nod).context("the NOD client settings")?);
        let process = WorkerProcess::bind(
            settings.nod_distributor.health_addr,
            td_runtime::ready_while(db.clone(), |db| async move { td_store::ping(&db).await }),
            settings.shutdown.drain_deadline(),
        )
        .await?;
        let consumer = std::env::var("HOSTNAME")
            .unwrap_or_else(|_| format!("nod-distributor-{}", std::process::id()));
        Ok(Self {
            distributor: Distributor {
                db,
                queue,
                nod,
                streams: streams(&settings.environment),
                settings: settings.nod_distributor.clone(),
                consumer,
            },
            process,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.process.health_addr()
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(
            health = %self.process.health_addr(),
            stream = %self.distributor.streams.stream,
            "nod-distributor started"
        );
        self.process
            .serve(
                vec![Component::looping(
                    "NOD work",
                    self.distributor.run(shutdown.clone()),
                )],
                shutdown,
            )
            .await
    }
}

//! What a worker process has besides its work, built once for every worker: the health
//! endpoints on an address of their own, readiness that a dead component turns off, and
//! the drain deadline its components get at shutdown.

use crate::{health_routes, serve, Component, HttpServer, ReadinessCheck, Tripwire};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct WorkerProcess {
    health: HttpServer,
    tripwire: Tripwire,
    drain: Duration,
}

impl WorkerProcess {
    /// Binds the health endpoints on `health_addr`; `/health/ready` answers `ready` while
    /// every component runs.
    pub async fn bind(
        health_addr: SocketAddr,
        ready: ReadinessCheck,
        drain: Duration,
    ) -> anyhow::Result<Self> {
        let tripwire = Tripwire::new();
        let health = HttpServer::bind(health_addr, health_routes(tripwire.guard(ready))).await?;
        Ok(Self {
            health,
            tripwire,
            drain,
        })
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    /// Runs `components` and the health server with [`serve`]'s rules until `shutdown`.
    pub async fn serve(
        self,
        mut components: Vec<Component>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        components.push(Component::new(
            "health server",
            self.health.run_until_stopped(shutdown.clone()),
        ));
        serve(components, &self.tripwire, shutdown, self.drain).await
    }
}

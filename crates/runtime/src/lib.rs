//! Process plumbing every worker shares: turning SIGTERM/SIGINT into a cancellation token,
//! the small HTTP server for `/health/live`, `/health/ready` and `/metrics`, and internal
//! gRPC (`grpc`). Nothing here knows what a worker does.

pub mod grpc;

pub use grpc::{internal_channel, serve_grpc, InternalChannel, InternalToken};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or SIGINT.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        child.cancel();
    });
    token
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Answers whether the process can do its work now (e.g. the database answers).
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A readiness check that always passes, for processes with no dependency yet.
pub fn always_ready() -> ReadinessCheck {
    Arc::new(|| Box::pin(async { Ok(()) }))
}

/// A readiness check that passes while the database answers.
pub fn database_ready(db: td_store::DatabaseConnection) -> ReadinessCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move { td_store::ping(&db).await.map_err(|e| e.to_string()) })
    })
}

/// The routes `/health/live`, `/health/ready` and `/metrics`, for merging into a process's
/// router.
pub fn health_routes(ready: ReadinessCheck) -> Router {
    td_telemetry::metrics::prometheus();
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready_handler))
        .route("/metrics", get(metrics))
        .with_state(ready)
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        td_telemetry::metrics::render(),
    )
}

async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "UP" }))
}

async fn ready_handler(State(check): State<ReadinessCheck>) -> impl IntoResponse {
    match check().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "UP" }))),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "DOWN", "reason": reason })),
        ),
    }
}

/// A bound HTTP server for a router; `port()` is known before it runs (port 0 in tests).
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, router: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        Ok(())
    }
}

/// Runs a worker that has only its health endpoint so far: serves it until shutdown.
pub async fn serve_health_until_stopped(
    addr: SocketAddr,
    ready: ReadinessCheck,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let server = HttpServer::bind(addr, health_routes(ready)).await?;
    tracing::info!(addr = %server.local_addr(), "health endpoint listening");
    server.run_until_stopped(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_server_answers_and_stops_on_cancel() {
        let failing: ReadinessCheck = Arc::new(|| Box::pin(async { Err("db down".to_string()) }));
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), health_routes(failing))
            .await
            .unwrap();
        let addr = server.local_addr();
        let token = CancellationToken::new();
        let task = tokio::spawn(server.run_until_stopped(token.clone()));

        let live = reqwest::get(format!("http://{addr}/health/live"))
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
        let ready = reqwest::get(format!("http://{addr}/health/ready"))
            .await
            .unwrap();
        assert_eq!(ready.status(), 503);
        assert!(ready.text().await.unwrap().contains("db down"));

        token.cancel();
        task.await.unwrap().unwrap();
    }
}

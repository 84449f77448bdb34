//! Process plumbing every worker shares: turning SIGTERM/SIGINT into a cancellation token,
//! running a worker's components under one drain deadline (`serve`), the small HTTP server
//! for `/health/live`, `/health/ready` and `/metrics`, and internal gRPC (`grpc`). Nothing
//! here knows what a worker does or what it stores: a readiness check is a closure the
//! worker gives.

pub mod grpc;
mod process;
mod serve;

pub use grpc::{internal_channel, serve_grpc, InternalChannel, InternalToken};
pub use process::WorkerProcess;
pub use serve::{serve, Component, Tripwire};

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

/// A readiness check that passes while `check` on (a clone of) `state` succeeds, e.g.
/// `ready_while(db, |db| async move { td_store::ping(&db).await })`.
pub fn ready_while<S, F, Fut, E>(state: S, check: F) -> ReadinessCheck
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let check = Arc::new(check);
    Arc::new(move || {
        let answer = check(state.clone());
        Box::pin(async move { answer.await.map_err(|e| e.to_string()) })
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

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
use std::time::Duration;
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

/// The routes `/health/live`, `/health/ready` and `/metrics`: a process's operations port.
pub fn health_routes(ready: ReadinessCheck) -> Router {
    td_telemetry::metrics::prometheus();
    probe_routes(ready).route("/metrics", get(metrics))
}

/// The probes `/health/live` and `/health/ready` alone, for a public port (where `/metrics`
/// does not belong).
pub fn probe_routes(ready: ReadinessCheck) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready_handler))
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

/// `DOWN` without the reason: it may name hosts or carry a driver's error text. The reason
/// is logged instead.
async fn ready_handler(State(check): State<ReadinessCheck>) -> impl IntoResponse {
    match check().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "UP" }))),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "DOWN" })),
            )
        }
    }
}

/// How long a client may take to send a request's headers, unless the server is told
/// otherwise; a connection that sends them slower is closed (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound HTTP server for a router; `port()` is known before it runs (port 0 in tests).
/// Handlers can extract the peer's address (`ConnectInfo<SocketAddr>`).
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, router: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        Ok(Self {
            listener,
            router,
            header_read_timeout: HEADER_READ_TIMEOUT,
        })
    }

    /// Closes connections whose request headers take longer than `timeout` to arrive.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests (the
    /// process's drain deadline bounds how long).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
        use hyper_util::server::conn::auto::Builder;
        use hyper_util::server::graceful::GracefulShutdown;
        use hyper_util::service::TowerToHyperService;
        use tower::ServiceExt;

        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, or a connection reset before it was
                        // accepted: wait a moment instead of spinning.
                        tracing::warn!(error = %err, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let service = self.router.clone().map_request(
                move |request: http::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            );
            let connection = builder
                .serve_connection_with_upgrades(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service),
                )
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        graceful.shutdown().await;
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
        let body = ready.text().await.unwrap();
        assert!(body.contains("DOWN"), "{body}");
        assert!(!body.contains("db down"), "no internal error text: {body}");

        token.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_that_sends_its_headers_too_slowly_is_disconnected() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ok: ReadinessCheck = Arc::new(|| Box::pin(async { Ok(()) }));
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), health_routes(ok))
            .await
            .unwrap()
            .with_header_read_timeout(Duration::from_millis(300));
        let addr = server.local_addr();
        let token = CancellationToken::new();
        let task = tokio::spawn(server.run_until_stopped(token.clone()));

        // A whole request is answered.
        let live = reqwest::get(format!("http://{addr}/health/live"))
            .await
            .unwrap();
        assert_eq!(live.status(), 200);

        // Headers that never end: the server closes the connection soon after the timeout.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
        assert!(
            closed.is_ok(),
            "the connection is still open 5 s after a 300 ms header timeout"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(!answer.contains("200 OK"), "{answer}");

        // Shutdown ends the server while a client keeps an idle connection open.
        let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

//! Internal gRPC between the workers: one way to serve a service (with the standard health
//! service, a span per call that continues the caller's trace, metrics per method, and the
//! shared internal token checked) and one way to call one (the token, the trace context and
//! the correlation id sent along).

use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

const CORRELATION_ID: &str = "x-correlation-id";

/// The shared secret internal gRPC calls carry as `authorization: Bearer <token>`
/// (`TD__GRPC__TOKEN`). Without one, calls are not authenticated (local runs only).
#[derive(Clone, Default)]
pub struct InternalToken(Option<Arc<AsciiMetadataValue>>);

impl std::fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "InternalToken([REDACTED])"
        } else {
            "InternalToken(none)"
        })
    }
}

impl InternalToken {
    /// The token as a header value. What a good token is (length, characters) is checked
    /// where the setting is read (`Settings::validate`, key `grpc.token`).
    pub fn new(token: Option<&str>) -> anyhow::Result<Self> {
        match token {
            None => Ok(Self(None)),
            Some(t) => {
                let value = MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| anyhow::anyhow!("TD__GRPC__TOKEN must be printable ASCII"))?;
                Ok(Self(Some(Arc::new(value))))
            }
        }
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Refuses a call that does not carry the token (constant-time comparison).
    fn check(&self, request: &Request<()>) -> Result<(), Status> {
        let Some(expected) = &self.0 else {
            return Ok(());
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let expected = expected.as_bytes();
        let same = given.len() == expected.len()
            && given
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "internal calls need the shared token (TD__GRPC__TOKEN)",
            ))
        }
    }
}

/// What every outgoing internal call carries.
#[derive(Clone)]
pub struct Outgoing {
    token: InternalToken,
}

impl tonic::service::Interceptor for Outgoing {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token.0 {
            request
                .metadata_mut()
                .insert("authorization", token.as_ref().clone());
        }
        let mut headers = http::HeaderMap::new();
        td_telemetry::propagation::inject_current(&mut headers);
        for (name, value) in &headers {
            if let Ok(value) = AsciiMetadataValue::try_from(value.as_bytes()) {
                if let Ok(key) =
                    tonic::metadata::AsciiMetadataKey::from_bytes(name.as_str().as_bytes())
                {
                    request.metadata_mut().insert(key, value);
                }
            }
        }
        if let Some(id) = td_telemetry::correlation::current() {
            if let Ok(value) = AsciiMetadataValue::try_from(id) {
                request.metadata_mut().insert(CORRELATION_ID, value);
            }
        }
        Ok(request)
    }
}

/// A channel to another worker that carries the token, trace context and correlation id.
pub type InternalChannel = InterceptedService<Channel, Outgoing>;

/// A lazily connecting channel to the worker at `url` (`what` names it in errors).
pub fn internal_channel(
    url: &str,
    what: &str,
    token: &InternalToken,
) -> anyhow::Result<InternalChannel> {
    let channel = Endpoint::from_shared(url.to_owned())
        .map_err(|e| anyhow::anyhow!("{what} gRPC address `{url}`: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    Ok(InterceptedService::new(
        channel,
        Outgoing {
            token: token.clone(),
        },
    ))
}

/// The span of one incoming call: it continues the caller's trace and carries its
/// correlation id.
fn call_span(request: &http::Request<()>) -> tracing::Span {
    let correlation_id = request
        .headers()
        .get(CORRELATION_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "grpc",
        otel.kind = "server",
        rpc = %request.uri().path(),
        correlation_id = %correlation_id,
    );
    td_telemetry::propagation::follow_headers(&span, request.headers());
    span
}

/// Counts calls and their latency per method and gRPC status code.
#[derive(Clone)]
struct Measured<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for Measured<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport".to_owned(),
            };
            // UNIMPLEMENTED answers paths nobody serves; they share one label, so a caller
            // cannot grow the label set.
            let method = if code == "12" {
                "unknown".to_owned()
            } else {
                path
            };
            metrics::counter!("td_grpc_requests_total", "method" => method.clone(), "code" => code)
                .increment(1);
            metrics::histogram!("td_grpc_request_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// Serves one gRPC service, with the standard gRPC health service reporting it SERVING
/// (open to probes, no token), on a bound listener until `shutdown`; calls in flight finish
/// first. With a token set, every call to `service` must carry it.
pub async fn serve_grpc<S>(
    listener: TcpListener,
    service: S,
    token: InternalToken,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    let checked = InterceptedService::new(service, move |request: Request<()>| {
        token.check(&request).map(|()| request)
    });
    tonic::transport::Server::builder()
        .trace_fn(call_span)
        .layer(tower::layer::layer_fn(|inner| Measured { inner }))
        .add_service(health)
        .add_service(checked)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move { shutdown.cancelled().await },
        )
        .await?;
    Ok(())
}

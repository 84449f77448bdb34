//! Logging, tracing and metrics set-up shared by every binary: `tracing` with JSON (or
//! pretty) logs, W3C trace-context propagation (`propagation`), the correlation id of the
//! work in hand (`correlation`), an OpenTelemetry OTLP exporter switched on when
//! `telemetry.otlp_endpoint` is set, and the Prometheus recorder behind `/metrics`
//! (`metrics`). It configures; it never decides what to log or count.

pub mod correlation;
pub mod metrics;
pub mod propagation;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How logs and traces leave the process (`TD__TELEMETRY__*`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info,sqlx=warn`.
    pub log_filter: String,
    /// OTLP/gRPC collector endpoint; traces are exported only when set.
    pub otlp_endpoint: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors (the default).
    Json,
    /// Readable lines, for people.
    Pretty,
}

/// Keeps the exporter alive; `shutdown` flushes what is buffered.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes buffered spans. Called last on shutdown.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(err) = provider.shutdown() {
                eprintln!("telemetry: flushing traces failed: {err}");
            }
        }
    }
}

/// Installs the global subscriber for `service`. Call once, first thing in `main`.
pub fn init(service: &'static str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    metrics::prometheus();
    let filter = EnvFilter::try_new(&settings.log_filter)
        .with_context(|| format!("setting `telemetry.log_filter`: `{}`", settings.log_filter))?;

    let fmt_layer = if settings.log_format == LogFormat::Pretty {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    };

    let provider = match &settings.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .context("setting `telemetry.otlp_endpoint`: building the OTLP exporter")?;
            Some(
                SdkTracerProvider::builder()
                    .with_resource(Resource::builder().with_service_name(service).build())
                    .with_batch_exporter(exporter)
                    .build(),
            )
        }
        None => None,
    };
    let otel_layer = provider.as_ref().map(|p| {
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing_opentelemetry::layer().with_tracer(p.tracer(service))
    });

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .with(correlation::CorrelationLayer)
        .try_init()
        .context("a tracing subscriber was already installed")?;
    Ok(TelemetryGuard { provider })
}

//! Wiring of the embedded default: SQLite, the intake behind an HTTP endpoint instead of
//! Kafka, the outbox relayed to a JSON-lines event log instead of Kafka, and the same
//! gRPC service (pdf-renderer's) as the distributed system on a loopback port of its own. Mails are
//! written as `.eml` files under `<data dir>/mails` instead of going to an SMTP server.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use td_bus::{FileSink, MessageSink};
use td_runtime::{Component, Tripwire};
use td_settings::Settings;
use tokio_util::sync::CancellationToken;

/// The embedded default's own defaults: SQLite under the data directory and readable logs,
/// unless the environment says otherwise.
pub fn settings(mut settings: Settings, data_dir: Option<String>) -> anyhow::Result<Settings> {
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    if std::env::var_os("TD__DATABASE__URL").is_none() {
        let file = PathBuf::from(&settings.data_dir).join("ticket-distribution.sqlite");
        settings.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", file.display()));
    }
    if std::env::var_os("TD__TELEMETRY__LOG_FORMAT").is_none() {
        settings.telemetry.log_format = td_telemetry::LogFormat::Pretty;
    }
    // Open on this machine unless asked otherwise (`TD__AUTH__MODE=jwt` with a key).
    if std::env::var_os("TD__AUTH__MODE").is_none() {
        settings.auth.mode = td_settings::AuthMode::Off;
    }
    Ok(settings)
}

pub async fn run(
    settings: Settings,
    demo: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data directory `{}`", settings.data_dir))?;
    let db = td_store::open(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
        settings.database.connect_timeout(),
        true,
    )
    .await
    .context("opening the database")?;
    let auth = api_gateway::auth::Authoriser::from_settings(&settings.auth)
        .await
        .context("the authorisation settings (TD__AUTH__*)")?;
    if auth.is_none() {
        tracing::warn!("AUTHORISATION IS OFF: the embedded default answers every caller for every organisation. Do not expose it.");
    }

    let event_log = PathBuf::from(&settings.data_dir).join("events.jsonl");
    let bus = Arc::new(FileSink::new(&event_log));
    let sink: Arc<dyn MessageSink> = bus.clone();
    let intake = Arc::new(order_listener::Intake::new(
        db.clone(),
        sink.clone(),
        settings.topic("order-events") + "-dlq",
        settings.intake.clone(),
    ));
    let relay = order_listener::Relay::new(db.clone(), sink, settings.environment.clone());
    // The workers call each other on loopback with a token of this run's own.
    let token = td_runtime::InternalToken::new(Some(&uuid::Uuid::new_v4().simple().to_string()))?;
    // NOD: the simulator in process (its HTTP face on a loopback port, so that people can
    // pick tickets up the way a travel app would), jobs on an in-process queue.
    let nod = td_nod::Simulator::new();
    let nod_http = nod
        .serve("127.0.0.1:0".parse()?)
        .await
        .context("starting the NOD simulator")?;
    let queue: Arc<dyn td_jobs::JobQueue> =
        Arc::new(td_jobs::InMemoryQueue::new(settings.jobs.clone())?);
    let distributor = nod_distributor::Distributor {
        db: db.clone(),
        queue: queue.clone(),
        nod: Arc::new(nod),
        streams: nod_distributor::streams(&settings.environment),
        settings: settings.nod_distributor.clone(),
        consumer: "embedded".to_owned(),
    };
    // PDFs: rendered in process, stored in the same SQLite file.
    let pdfs =
        pdf_renderer::service_from_settings(db.clone(), &settings.pdf_renderer, shutdown.clone())?;
    let pdf_grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    // Mail: the same jobs, delivered as .eml files in the data directory.
    let mailbox = PathBuf::from(&settings.data_dir).join("mails");
    let mailer = mailer::Mailer {
        db: db.clone(),
        queue,
        pdfs: mailer::pdf_client(&format!("http://{}", pdf_grpc.local_addr()?), &token)?,
        transport: Arc::new(mailer::EmlDirectory::new(&mailbox)),
        streams: mailer::streams(&settings.environment),
        consumer: "embedded".to_owned(),
        settings: settings.clone(),
    };
    let upstreams = api_gateway::Upstreams {
        pdf_renderer: format!("http://{}", pdf_grpc.local_addr()?),
        token: token.clone(),
    };
    let own = Arc::new(std::sync::OnceLock::new());
    let gateway = api_gateway::App::build_with(
        &settings.gateway,
        auth,
        db.clone(),
        upstreams,
        crate::intake::routes(intake.clone(), own.clone()),
    )
    .await?;
    let addr = gateway.local_addr();
    let _ = own.set(addr);

    let components = vec![
        Component::looping(
            "outbox relay",
            relay.run(order_listener::RELAY_IDLE, shutdown.clone()),
        ),
        Component::looping("NOD work", distributor.run(shutdown.clone())),
        Component::looping("mail work", mailer.run(shutdown.clone())),
        Component::looping(
            "PDF cleanup",
            pdf_renderer::run_cleanup(
                pdfs.clone(),
                Duration::from_millis(settings.pdf_renderer.cleanup_interval_ms),
                shutdown.clone(),
            ),
        ),
        Component::new(
            "PDF gRPC",
            td_runtime::serve_grpc(
                pdf_grpc,
                pdf_renderer::grpc_service(pdfs),
                token,
                shutdown.clone(),
            ),
        ),
    ];
    tracing::info!(nod = %nod_http.base_url(), "NOD simulator (in process) answers; POST /client/order-groups/{{id}}/pickup picks a ticket up");
    if demo {
        let orders = crate::demo::record(&intake).await?;
        crate::demo::print_instructions(addr, &orders, &event_log);
    }
    tracing::info!(data_dir = %settings.data_dir, events = %event_log.display(), mails = %mailbox.display(), "ticket-distribution (embedded) running; Ctrl-C stops it");
    let mut components = components;
    components.push(Component::new(
        "HTTP server",
        gateway.run_until_stopped(shutdown.clone()),
    ));
    let result = td_runtime::serve(
        components,
        &Tripwire::new(),
        shutdown,
        settings.shutdown.drain_deadline(),
    )
    .await;
    let _ = nod_http.shutdown().await;
    result
}

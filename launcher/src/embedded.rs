//! Wiring of the embedded default.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;
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
        settings.telemetry.log_format = "pretty".to_owned();
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
    let db = td_store::connect(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
        Duration::from_millis(settings.database.connect_timeout_ms),
    )
    .await
    .context("opening the database")?;
    td_store::migrate(&db)
        .await
        .context("migrating the database")?;
    tracing::warn!("AUTHORISATION IS OFF: the embedded default answers every caller for every organisation. Do not expose it.");

    let gateway = api_gateway::App::build_with_db(&settings.gateway, db.clone()).await?;
    let addr = gateway.local_addr();
    if demo {
        let orders = crate::demo::record(&db).await?;
        crate::demo::print_instructions(addr, &orders);
    }
    tracing::info!(data_dir = %settings.data_dir, "ticket-distribution (embedded) running; Ctrl-C stops it");
    gateway.run_until_stopped(shutdown).await
}

use anyhow::Context;
use clap::{Parser, Subcommand};
use td_settings::Settings;

/// The public REST API. Settings come from `TD__*` variables (see the README).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Applies the database migrations that are missing, then exits (the migration Job).
    /// Safe to run from several places at once: they take turns under a database lock.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    let telemetry = td_telemetry::init("api-gateway", &settings.telemetry)?;
    let result = match cli.command {
        Some(Command::Migrate) => migrate(&settings).await,
        None => serve(&settings).await,
    };
    if let Err(err) = &result {
        tracing::error!(
            error = format!("{err:#}"),
            "api-gateway stopped with an error"
        );
    }
    telemetry.shutdown();
    result
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let shutdown = td_runtime::shutdown_token();
    let app = api_gateway::App::build(settings).await?;
    // The HTTP server answers the readiness probe itself: when it stops, nothing answers.
    td_runtime::serve(
        vec![td_runtime::Component::new(
            "HTTP server",
            app.run_until_stopped(shutdown.clone()),
        )],
        &td_runtime::Tripwire::new(),
        shutdown,
        settings.shutdown.drain_deadline(),
    )
    .await
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let db = td_store::open(
        settings.database.url.expose_secret(),
        settings.database.max_connections,
        settings.database.connect_timeout(),
        true,
    )
    .await
    .context("opening the database")?;
    tracing::info!("database migrations applied");
    db.close().await?;
    Ok(())
}

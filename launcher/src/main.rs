//! `ticket-distribution`: the embedded default. One process runs the components on SQLite
//! (a file under the data directory) with in-process stand-ins, so a newcomer sees orders
//! become tickets without installing a server.

use clap::Parser;
use td_settings::Settings;

mod demo;
mod embedded;
mod intake;

#[derive(Debug, Parser)]
#[command(
    name = "ticket-distribution",
    about = "Ticket Distribution, all components in one process"
)]
struct Args {
    /// Record the example orders kept in the repository and print a curl to see them.
    #[arg(long)]
    demo: bool,
    /// Where the SQLite database and other local files live (default: `data_dir` setting).
    #[arg(long, env = "TD__DATA_DIR")]
    data_dir: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = embedded::settings(Settings::load()?, args.data_dir)?;
    let telemetry = td_telemetry::init("ticket-distribution", &settings.telemetry)?;
    let shutdown = td_runtime::shutdown_token();
    let result = embedded::run(settings, args.demo, shutdown).await;
    if let Err(err) = &result {
        tracing::error!(
            error = format!("{err:#}"),
            "ticket-distribution stopped with an error"
        );
    }
    telemetry.shutdown();
    result
}

//! Runs the NOD simulator until SIGTERM or Ctrl-C, for local runs and end-to-end tests
//! that want NOD as a separate process.

use clap::Parser;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(about = "An in-memory NOD (national order database) speaking the back-office API")]
struct Args {
    /// Where to listen; port 0 picks a free port (the log line says which).
    #[arg(long, env = "NOD_SIMULATOR_ADDR", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        // Colours only for people at a terminal; log files and test harnesses get plain text.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let running = td_nod::Simulator::start(args.addr).await?;
    tracing::info!(addr = %running.local_addr(), "nod-simulator listening");
    stop_signal().await;
    running.shutdown().await?;
    tracing::info!("nod-simulator stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C. A stand-in for tests and local runs needs no drain deadline, so it
/// does without the workers' runtime.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

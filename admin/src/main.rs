use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use td_admin::{Item, Quarantine, Replayed, Stage};

/// Operator tools for Ticket Distribution. Settings as for the workers: the file named by
/// TD_CONFIG_FILE, then TD__* variables (TD__DATABASE__URL, TD__REDIS__URL,
/// TD__KAFKA__BOOTSTRAP_SERVERS, TD__ENVIRONMENT, ...).
#[derive(Parser)]
#[command(name = "td-admin", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work the workers set aside because it cannot be done as it is.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Lists quarantined items, oldest first, with stage, reason and age.
    List {
        /// Only this stage.
        #[arg(long, value_enum)]
        stage: Option<Stage>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Runs items through their normal path once (after the cause is fixed); replaying an
    /// item again does nothing.
    Replay {
        /// Item ids as `list` shows them.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every quarantined item (of `--stage`, when given).
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, requires = "all")]
        stage: Option<Stage>,
        /// One JSON array of results instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("td-admin: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = td_settings::Settings::load().context("loading the settings")?;
    let quarantine = Quarantine::connect(&settings).await?;
    let Command::Quarantine(command) = cli.command;
    match command {
        QuarantineCommand::List { stage, json } => {
            let items = quarantine.list(stage.as_slice()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                print_table(&items);
            }
            Ok(ExitCode::SUCCESS)
        }
        QuarantineCommand::Replay {
            ids,
            all,
            stage,
            json,
        } => {
            let ids = if all {
                quarantine
                    .list(stage.as_slice())
                    .await?
                    .into_iter()
                    .map(|i| i.id)
                    .collect()
            } else {
                ids
            };
            let mut failed = 0;
            let mut results = Vec::new();
            for id in ids {
                let result = quarantine.replay(&id).await;
                if result.is_err() {
                    failed += 1;
                }
                if json {
                    results.push(match &result {
                        Ok(replayed) => json!({ "id": id, "replayed": replayed }),
                        Err(err) => json!({ "id": id, "error": format!("{err:#}") }),
                    });
                } else {
                    match result {
                        Ok(Replayed::Done { outcome }) => println!("{id}\treplayed: {outcome}"),
                        Ok(Replayed::Already {
                            outcome,
                            replayed_at,
                        }) => println!(
                            "{id}\talready replayed at {replayed_at}, nothing done: {outcome}"
                        ),
                        Err(err) => eprintln!("{id}\tnot replayed: {err:#}"),
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn print_table(items: &[Item]) {
    if items.is_empty() {
        println!("nothing is quarantined");
        return;
    }
    let now = Utc::now();
    println!(
        "{:<44} {:<13} {:>8}  {:<40} REASON",
        "ID", "STAGE", "AGE", "SUBJECT"
    );
    for item in items {
        let age = (now - item.quarantined_at).num_seconds().max(0);
        let age = match age {
            s if s < 120 => format!("{s}s"),
            s if s < 7200 => format!("{}m", s / 60),
            s if s < 172_800 => format!("{}h", s / 3600),
            s => format!("{}d", s / 86_400),
        };
        let reason: String = item.reason.chars().take(120).collect();
        println!(
            "{:<44} {:<13} {:>8}  {:<40} {}",
            item.id,
            item.stage.as_str(),
            age,
            item.subject,
            reason.replace('\n', " ")
        );
    }
}

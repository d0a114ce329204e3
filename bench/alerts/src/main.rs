//! `alerts-bench`: the driver of Lookout's alerts benchmark. `run.sh` next to this crate runs
//! the whole comparison; `run` is one Lookout's share of it (with or without the rules),
//! `report` writes the Markdown.

mod http;
mod report;
mod run;
mod store;
mod triggers;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    about = "Alerts benchmark: what 10,000 threshold rules cost Lookout's ingest, and how soon a crossing reaches a webhook"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the channel (and the rules), publish the load with the triggers among it, and write
    /// what was stored and when the webhooks came as JSON.
    Run(run::RunArgs),
    /// Turn the runs' JSON files into the Markdown report.
    Report(report::ReportArgs),
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run::run(args).await,
        Command::Report(args) => report::write(&args),
    }
}

//! `live-bench`: the clients and the driver of Lookout's live stream benchmark. `run.sh` next to
//! this crate runs the whole comparison; `stream` and `idle` are its steps, `report` writes the
//! Markdown.

mod analysis;
mod clients;
mod http;
mod mqtt;
mod report;
mod run;
mod sse;
mod ws;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Live stream benchmark: Lookout's SSE against MQTT over WebSocket")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect the clients, publish at the given rate, and write what each group saw as JSON.
    Stream(StreamArgs),
    /// Hold many idle connections and write the server's memory per connection as JSON.
    Idle(IdleArgs),
    /// Turn the steps' JSON files into the Markdown report.
    Report(report::ReportArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum System {
    /// Lookout's `GET /api/live`.
    Sse,
    /// The broker's websocket listener.
    MqttWs,
    /// The broker's plain MQTT listener.
    Mqtt,
}

#[derive(clap::Args)]
pub struct Common {
    #[arg(long, value_enum)]
    system: System,
    /// A name for the report.
    #[arg(long)]
    label: String,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Lookout's HTTP port (sse), or the broker's websocket (mqtt-ws) or MQTT (mqtt) port.
    #[arg(long)]
    port: u16,
    /// `name password` lines of the users the SSE clients log in as (one session each).
    #[arg(long)]
    users_file: Option<PathBuf>,
    /// Clients connect from 127.0.0.1 … 127.0.0.N in turn.
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    /// Connections being set up at once at most.
    #[arg(long, default_value_t = 128)]
    connecting: usize,
    /// The server whose memory is measured (Lookout, or the broker).
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 100.0)]
    clk_tck: f64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
pub struct StreamArgs {
    #[command(flatten)]
    common: Common,
    /// The broker's plain MQTT port, for the publisher.
    #[arg(long)]
    mqtt_port: u16,
    #[arg(long)]
    broker_pid: u32,
    /// PostgreSQL's postmaster (its backends' CPU is counted), when Lookout is the system.
    #[arg(long)]
    postmaster_pid: Option<u32>,
    #[arg(long, default_value_t = 1000)]
    topic_clients: usize,
    #[arg(long, default_value_t = 10)]
    all_clients: usize,
    /// Conflated mode for the clients following everything (0: every message).
    #[arg(long, default_value_t = 0)]
    all_conflate_ms: u32,
    #[arg(long, default_value_t = 5000.0)]
    rate: f64,
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Load published at the same rate just before the measured messages and not counted, so
    /// that start-up (buffers growing, first allocations) is not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// The first sequence number of this step (a multiple of 1,000), so that no step mistakes
    /// another's messages for its own.
    #[arg(long, default_value_t = 0)]
    seq_base: u64,
}

#[derive(clap::Args)]
pub struct IdleArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 20_000)]
    clients: usize,
    /// How long the connections are held once all are open (Lookout sends a keep-alive every
    /// 15 s and rechecks the login every 20 s: longer shows the streams survive both).
    #[arg(long, default_value_t = 25.0)]
    hold_secs: f64,
}

fn main() -> Result<()> {
    // The publisher gets a thread of its own beside these workers (see `run`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match Cli::parse().command {
            Command::Stream(args) => run::stream(args).await,
            Command::Idle(args) => run::idle(args).await,
            Command::Report(args) => report::write(&args),
        }
    })
}

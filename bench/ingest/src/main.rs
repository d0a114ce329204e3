//! `ingest-bench`: the load generator, the discarding subscriber and the driver of Lookout's
//! ingest benchmark. `run.sh` next to this crate runs the whole comparison.

mod discard;
mod ladder;
mod report;
mod sink;

use anyhow::{Context, Result};
use bench_common::{payload, publish};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Ingest benchmark: broker ceiling, Node-RED and Lookout at the same offered load"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Subscribe to bench/# at QoS 1 and discard, reporting arrivals on stdout (run by `ladder`).
    Discard {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long)]
        port: u16,
    },
    /// Publish the ladder of rates at one system and write its measurements as JSON.
    Ladder(LadderArgs),
    /// Publish `count` messages at `rate` and exit, printing what the broker acknowledged as
    /// JSON: load for benchmarks that watch another end (bench/explorer).
    Publish(PublishArgs),
    /// Turn the systems' JSON files into the Markdown report.
    Report {
        /// key=value lines: machine, versions, parameters.
        #[arg(long)]
        meta: PathBuf,
        /// (a) the discarding subscriber's results: every run of it, in the order they ran.
        #[arg(long, required = true)]
        ceiling: Vec<PathBuf>,
        /// (b) Node-RED's results; when missing the report says why (`nodered_failure` in meta).
        #[arg(long)]
        nodered: Option<PathBuf>,
        /// (c) Lookout's results.
        #[arg(long)]
        lookout: PathBuf,
        /// Lookout with other settings (`lookout_variant` in meta), reported beside (c).
        #[arg(long)]
        variant: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct LadderArgs {
    /// A name for the report.
    #[arg(long)]
    system: String,
    #[arg(long, default_value = "127.0.0.1")]
    mqtt_host: String,
    #[arg(long)]
    mqtt_port: u16,
    /// Where the system stores; without it the driver starts the discarding subscriber.
    #[arg(long)]
    database_url: Option<String>,
    /// The process under test (with --database-url).
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long)]
    broker_pid: Option<u32>,
    #[arg(long)]
    postmaster_pid: Option<u32>,
    /// Offered rates in messages per second, climbed until one fails.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,10000,20000,40000,60000,70000,80000,90000,100000,110000,120000"
    )]
    rates: Vec<f64>,
    #[arg(long, default_value_t = 6.0)]
    step_secs: f64,
    /// Bisections between the last rate kept up with and the first one not.
    #[arg(long, default_value_t = 2)]
    refine: u32,
    /// Messages of the final flat-out run (0: none).
    #[arg(long, default_value_t = 200_000)]
    burst: u64,
    /// Publishes awaiting the broker's PubAck at most.
    #[arg(long, default_value_t = 1000)]
    window: u16,
    #[arg(long, default_value_t = 100.0)]
    clk_tck: f64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct PublishArgs {
    #[arg(long, default_value = "127.0.0.1")]
    mqtt_host: String,
    #[arg(long)]
    mqtt_port: u16,
    /// Messages per second; 0: as fast as the window allows.
    #[arg(long)]
    rate: f64,
    #[arg(long)]
    count: u64,
    /// The first sequence number, so that runs one after another go on round the topics.
    #[arg(long, default_value_t = 0)]
    seq_base: u64,
    #[arg(long, default_value_t = payload::TOPICS)]
    topics: u64,
    /// Levels the topics are grouped under (1: none, `bench/dev-NNNN`).
    #[arg(long, default_value_t = 1)]
    groups: u64,
    #[arg(long, default_value_t = 1000)]
    window: u16,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Discard { host, port } => discard::run(&host, port).await,
        Command::Ladder(args) => ladder(args).await,
        Command::Publish(args) => publish(args).await,
        Command::Report {
            meta,
            ceiling,
            nodered,
            lookout,
            variant,
            out,
        } => report::write(
            &meta,
            &ceiling,
            nodered.as_deref(),
            &lookout,
            variant.as_deref(),
            &out,
        ),
    }
}

async fn ladder(args: LadderArgs) -> Result<()> {
    let publisher =
        publish::Publisher::connect(&args.mqtt_host, args.mqtt_port, args.window).await?;
    let (sink, pid, own_backend) = match &args.database_url {
        Some(url) => {
            let sink = sink::PgSink::connect(url).await?;
            let backend = sink.backend_pid;
            let pid = args.pid.context("--pid names the process that stores")?;
            (sink::Sink::Postgres(sink), pid, Some(backend))
        }
        None => {
            let sink = sink::DiscardSink::spawn(&args.mqtt_host, args.mqtt_port)?;
            let pid = sink.pid().context("the discarding subscriber exited")?;
            (sink::Sink::Discard(sink), pid, None)
        }
    };
    let mut driver = ladder::Driver {
        publisher,
        sink,
        pid,
        broker_pid: args.broker_pid,
        postmaster_pid: args.postmaster_pid,
        own_backend,
        clk_tck: args.clk_tck,
        next_seq: 0,
    };
    let result = driver
        .run(
            &args.system,
            &args.rates,
            args.step_secs,
            args.refine,
            args.burst,
        )
        .await?;
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(())
}

async fn publish(args: PublishArgs) -> Result<()> {
    let topics = payload::Topics {
        count: args.topics.max(1),
        groups: args.groups,
    };
    let mut publisher = publish::Publisher::connect(&args.mqtt_host, args.mqtt_port, args.window)
        .await?
        .spread_over(topics);
    let published = publisher
        .run(args.seq_base..args.seq_base + args.count, args.rate)
        .await?;
    println!(
        "{}",
        serde_json::json!({
            "acked": published.acked.len(),
            "first_sent_us": published.first_sent_us,
            "last_ack_us": published.last_ack_us,
            "rate": published.rate(),
        })
    );
    Ok(())
}

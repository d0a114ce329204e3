//! The steps: `stream` (clients follow a paced load; loss and latency per group) and `idle`
//! (many connections that only wait; the server's memory per connection).

use crate::analysis::{self, Group};
use crate::clients::{Client, Outcome, Progress, Spec, Target, Window};
use crate::mqtt::Framing;
use crate::{http, Common, IdleArgs, StreamArgs, System};
use anyhow::{bail, Context, Result};
use bench_common::payload::{PROBE_BASE, TOPICS};
use bench_common::procstat::{self, CpuMeter};
use bench_common::publish::{Published, Publisher};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Publishes awaiting the broker's PubAck at most (as in the ingest benchmark).
const PUBLISH_WINDOW: u16 = 1000;
/// Where warm-up messages start within the probes' range.
const WARMUP_OFFSET: u64 = 500_000_000;
/// Waiting for the last messages ends when nothing arrived for this long...
const QUIET: Duration = Duration::from_secs(3);
/// ...or in any case after this long.
const DRAIN_CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StreamResult {
    pub label: String,
    pub system: Option<System>,
    pub offered_rate: f64,
    pub secs: f64,
    pub published: u64,
    pub acked: u64,
    pub publish_rate: f64,
    pub groups: Vec<Group>,
    pub connections: usize,
    pub connect_secs: f64,
    pub server_rss_before_kib: u64,
    pub server_rss_connected_kib: u64,
    pub server_rss_peak_kib: u64,
    /// Of one core, from the first publish until the last message arrived.
    pub server_cpu_pct: f64,
    pub broker_cpu_pct: f64,
    pub postgres_cpu_pct: Option<f64>,
    /// This process: the clients and the publisher.
    pub bench_cpu_pct: f64,
    pub drain_secs: f64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IdleResult {
    pub label: String,
    pub system: Option<System>,
    pub clients: usize,
    pub connected: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub connect_secs: f64,
    pub hold_secs: f64,
    /// Still open at the end of the hold.
    pub alive_at_end: usize,
    /// SSE comments (keep-alives) the clients received during the hold.
    pub comments: u64,
    pub server_rss_before_kib: u64,
    pub server_rss_held_kib: u64,
    pub server_rss_closed_kib: u64,
}

impl IdleResult {
    pub fn per_connection_kib(&self) -> f64 {
        self.server_rss_held_kib
            .saturating_sub(self.server_rss_before_kib) as f64
            / self.connected.max(1) as f64
    }
}

fn rss_kib(pid: u32) -> Result<u64> {
    procstat::memory_kib(pid)
        .map(|(rss, _)| rss)
        .with_context(|| format!("process {pid} is gone"))
}

fn source_ip(i: usize, count: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        1 + (i % usize::from(count.max(1))) as u8,
    ))
}

async fn target(common: &Common) -> Result<Target> {
    let server: SocketAddr = format!("{}:{}", common.host, common.port)
        .parse()
        .context("--host and --port make no address")?;
    Ok(match common.system {
        System::MqttWs => Target::Mqtt {
            server,
            framing: Framing::WebSocket,
        },
        System::Mqtt => Target::Mqtt {
            server,
            framing: Framing::Plain,
        },
        System::Sse => {
            let path = common
                .users_file
                .as_ref()
                .context("--users-file is needed to log in")?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut cookies = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let (name, password) = line
                    .split_once(' ')
                    .with_context(|| format!("{}: `name password` lines", path.display()))?;
                cookies.push(http::log_in(server, name, password).await?);
            }
            if cookies.is_empty() {
                bail!("{} names no user", path.display());
            }
            Target::Sse {
                server,
                cookies: Arc::new(cookies),
            }
        }
    })
}

/// The clients of a step, each on its own task.
struct Fleet {
    specs: Vec<Spec>,
    tasks: Vec<JoinHandle<Outcome>>,
    progress: Arc<Progress>,
    stop: watch::Sender<bool>,
}

impl Fleet {
    fn start(common: &Common, target: &Target, specs: Vec<Spec>, window: Window) -> Self {
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = watch::channel(false);
        let connecting = Arc::new(Semaphore::new(common.connecting.max(1)));
        let prefix = format!("live-bench-{}", std::process::id());
        let tasks = specs
            .iter()
            .map(|spec| {
                tokio::spawn(
                    Client {
                        spec: spec.clone(),
                        target: target.clone(),
                        source: source_ip(spec.index, common.source_ips),
                        window: window.clone(),
                        progress: progress.clone(),
                        connecting: connecting.clone(),
                        stop: stopped.clone(),
                        client_id_prefix: prefix.clone(),
                    }
                    .run(),
                )
            })
            .collect();
        Self {
            specs,
            tasks,
            progress,
            stop,
        }
    }

    /// Waits until every client connected or failed; fails if any failed.
    async fn connected(&self, allow_failures: bool) -> Result<Duration> {
        let start = Instant::now();
        let total = self.specs.len();
        let mut last = (0, Instant::now());
        loop {
            let connected = self.progress.connected.load(Ordering::Acquire);
            let failed = self.progress.failed.load(Ordering::Acquire);
            if connected + failed >= total {
                if failed > 0 && !allow_failures {
                    bail!("{failed} of {total} clients could not connect");
                }
                return Ok(start.elapsed());
            }
            if connected + failed != last.0 {
                last = (connected + failed, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(60) {
                bail!("{connected} of {total} clients connected, {failed} failed, then nothing for 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn finish(self) -> Vec<Outcome> {
        let _ = self.stop.send(true);
        let mut outcomes = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            outcomes.push(task.await.unwrap_or_else(|error| Outcome {
                error: Some(format!("the client task failed: {error}")),
                ..Outcome::default()
            }));
        }
        outcomes
    }

    fn first_error(outcomes: &[Outcome]) -> Option<String> {
        outcomes.iter().find_map(|o| o.error.clone())
    }
}

/// The load generator on a thread of its own, so that the clients' work cannot delay its
/// pacing (nor theirs its).
struct PublisherThread {
    jobs: mpsc::Sender<(Range<u64>, f64, oneshot::Sender<Result<Published>>)>,
}

impl PublisherThread {
    async fn start(host: String, port: u16) -> Result<Self> {
        let (jobs, mut queue) =
            mpsc::channel::<(Range<u64>, f64, oneshot::Sender<Result<Published>>)>(1);
        let (ready, connected) = oneshot::channel();
        std::thread::Builder::new()
            .name("publisher".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the publisher");
                runtime.block_on(async move {
                    match Publisher::connect(&host, port, PUBLISH_WINDOW).await {
                        Ok(mut publisher) => {
                            let _ = ready.send(Ok(()));
                            while let Some((seqs, rate, reply)) = queue.recv().await {
                                let _ = reply.send(publisher.run(seqs, rate).await);
                            }
                        }
                        Err(error) => {
                            let _ = ready.send(Err(error));
                        }
                    }
                });
            })?;
        connected.await.context("the publisher thread died")??;
        Ok(Self { jobs })
    }

    async fn publish(&self, seqs: Range<u64>, rate: f64) -> Result<Published> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .send((seqs, rate, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the publisher thread is gone"))?;
        result.await.context("the publisher thread died")?
    }
}

pub async fn stream(args: StreamArgs) -> Result<()> {
    let common = &args.common;
    if !args.seq_base.is_multiple_of(TOPICS) {
        bail!("--seq-base must be a multiple of {TOPICS}");
    }
    let target = target(common).await?;
    let messages = (args.rate * args.secs).round() as u64;
    let measured = args.seq_base..args.seq_base + messages;
    let probes_from = PROBE_BASE + args.seq_base;
    let mut specs: Vec<Spec> = (0..args.topic_clients).map(Spec::per_topic).collect();
    specs.extend(
        (0..args.all_clients)
            .map(|i| Spec::everything(args.topic_clients + i, args.all_conflate_ms)),
    );

    let server = common.server_pid;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(server)?;
    eprintln!(
        "live-bench: {}: connecting {} clients",
        common.label,
        specs.len()
    );
    let fleet = Fleet::start(
        common,
        &target,
        specs,
        Window {
            measured: measured.clone(),
            probes_from,
        },
    );
    let connect_time = fleet.connected(false).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib(server)?;

    let publisher = PublisherThread::start(common.host.clone(), args.mqtt_port).await?;
    wait_until_ready(&fleet, &publisher, probes_from).await?;
    // Probes too (clients skip them), from a range the readiness probes never reach.
    let warmup = probes_from + WARMUP_OFFSET;
    let warmup_messages = (args.rate * args.warmup_secs).round() as u64;
    publisher
        .publish(warmup..warmup + warmup_messages, args.rate)
        .await?;

    eprintln!(
        "live-bench: {}: publishing {messages} messages at {}/s",
        common.label, args.rate
    );
    let pg_pids = || {
        args.postmaster_pid
            .map(procstat::with_children)
            .unwrap_or_default()
    };
    let own = [std::process::id()];
    let (server_cpu, broker_cpu) = (
        CpuMeter::start(&[server]),
        CpuMeter::start(&[args.broker_pid]),
    );
    let (pg_cpu, bench_cpu) = (CpuMeter::start(&pg_pids()), CpuMeter::start(&own));
    let rss_peak = Arc::new(AtomicU64::new(rss_connected));
    let sampler = tokio::spawn(sample_rss(server, rss_peak.clone()));
    let start = Instant::now();
    let published = publisher.publish(measured.clone(), args.rate).await?;
    let published_at = Instant::now();

    // Everything expected by the clients in full mode; the conflated ones end when quiet.
    let mut acked = vec![false; messages as usize];
    for &seq in &published.acked {
        acked[(seq - args.seq_base) as usize] = true;
    }
    let mut per_topic = vec![0u64; TOPICS as usize];
    for &seq in &published.acked {
        per_topic[(seq % TOPICS) as usize] += 1;
    }
    let expected_full: u64 = fleet
        .specs
        .iter()
        .filter(|spec| spec.conflate_ms == 0)
        .map(|spec| match &spec.topics {
            Some(topics) => topics.iter().map(|&t| per_topic[t as usize]).sum(),
            None => published.acked.len() as u64,
        })
        .sum();
    let progress = fleet.progress.clone();
    let received = || {
        progress.received_full.load(Ordering::Acquire)
            + progress.received_conflated.load(Ordering::Acquire)
    };
    let mut last = (received(), Instant::now());
    loop {
        let full = progress.received_full.load(Ordering::Acquire);
        let now = received();
        if now != last.0 {
            last = (now, Instant::now());
        }
        let conflated_quiet =
            args.all_conflate_ms == 0 || args.all_clients == 0 || last.1.elapsed() > QUIET;
        if (full >= expected_full && conflated_quiet) || last.1.elapsed() > QUIET {
            break;
        }
        if published_at.elapsed() > DRAIN_CAP {
            eprintln!(
                "live-bench: {}: still receiving after {DRAIN_CAP:?}; stopping",
                common.label
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The step ends at its last arrival, not when waiting for more gave up.
    let last_arrival = last.1.max(published_at);
    let wall = (last_arrival - start).as_secs_f64().max(0.001);
    let pct = |ticks: u64| ticks as f64 / common.clk_tck / wall * 100.0;
    let server_cpu_pct = pct(server_cpu.ticks_since(&[server]));
    let broker_cpu_pct = pct(broker_cpu.ticks_since(&[args.broker_pid]));
    let postgres_cpu_pct = args
        .postmaster_pid
        .map(|_| pct(pg_cpu.ticks_since(&pg_pids())));
    let bench_cpu_pct = pct(bench_cpu.ticks_since(&own));
    sampler.abort();

    let specs = fleet.specs.clone();
    let outcomes = fleet.finish().await;
    let sent = analysis::Published {
        base: args.seq_base,
        acked: &acked,
        sent_us: &published.sent_us,
    };
    let mut groups = Vec::new();
    let pairs: Vec<(&Spec, &Outcome)> = specs.iter().zip(&outcomes).collect();
    let (per_topic, everything): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(spec, _)| spec.topics.is_some());
    if !per_topic.is_empty() {
        groups.push(analysis::group("per-topic", &per_topic, &sent));
    }
    if !everything.is_empty() {
        groups.push(analysis::group("everything", &everything, &sent));
    }
    let result = StreamResult {
        label: common.label.clone(),
        system: Some(common.system),
        offered_rate: args.rate,
        secs: args.secs,
        published: messages,
        acked: published.acked.len() as u64,
        publish_rate: published.rate(),
        groups,
        connections: specs.len(),
        connect_secs: connect_time.as_secs_f64(),
        server_rss_before_kib: rss_before,
        server_rss_connected_kib: rss_connected,
        server_rss_peak_kib: rss_peak.load(Ordering::Acquire),
        server_cpu_pct,
        broker_cpu_pct,
        postgres_cpu_pct,
        bench_cpu_pct,
        drain_secs: (last_arrival - published_at).as_secs_f64(),
    };
    for group in &result.groups {
        eprintln!(
            "live-bench: {}: {}: {} of {} received, lost {}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}",
            common.label,
            group.name,
            group.received,
            group.expected,
            group.lost(),
            group.latency.p50_ms,
            group.latency.p99_ms,
            group.latency.max_ms,
            group
                .first_error
                .as_ref()
                .map(|e| format!(" (error: {e})"))
                .unwrap_or_default()
        );
    }
    std::fs::write(&common.out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", common.out.display()))?;
    Ok(())
}

/// Publishes a probe on every topic, again and again, until every client has seen one: every
/// connection is then subscribed end to end.
async fn wait_until_ready(
    fleet: &Fleet,
    publisher: &PublisherThread,
    probes_from: u64,
) -> Result<()> {
    let start = Instant::now();
    let total = fleet.specs.len();
    let mut round = 0;
    while fleet.progress.probed.load(Ordering::Acquire) < total {
        if start.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {total} clients saw a probe in 120 s",
                fleet.progress.probed.load(Ordering::Acquire)
            );
        }
        let first = probes_from + round * TOPICS;
        publisher.publish(first..first + TOPICS, 0.0).await?;
        round += 1;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && fleet.progress.probed.load(Ordering::Acquire) < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Conflated clients may still get a probe up to one interval later; let it pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>) {
    loop {
        if let Some((rss, _)) = procstat::memory_kib(pid) {
            peak.fetch_max(rss, Ordering::AcqRel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn idle(args: IdleArgs) -> Result<()> {
    let common = &args.common;
    let target = target(common).await?;
    let server = common.server_pid;
    // Followed topics get no messages during this step: nothing is published.
    let specs: Vec<Spec> = (0..args.clients)
        .map(|i| {
            let mut spec = Spec::per_topic(i % TOPICS as usize);
            spec.index = i;
            spec
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(server)?;
    eprintln!(
        "live-bench: {}: connecting {} idle clients",
        common.label,
        specs.len()
    );
    let fleet = Fleet::start(
        common,
        &target,
        specs,
        Window {
            measured: 0..0,
            probes_from: u64::MAX,
        },
    );
    let connect_time = fleet.connected(true).await?;
    let connected = fleet.progress.connected.load(Ordering::Acquire);
    let failed = fleet.progress.failed.load(Ordering::Acquire);
    eprintln!(
        "live-bench: {}: {connected} connected, {failed} failed in {:.1} s; holding {} s",
        common.label,
        connect_time.as_secs_f64(),
        args.hold_secs
    );
    tokio::time::sleep(Duration::from_secs_f64(args.hold_secs)).await;
    let rss_held = rss_kib(server)?;
    let alive_at_end = fleet.progress.alive.load(Ordering::Acquire);
    let outcomes = fleet.finish().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_closed = rss_kib(server)?;
    let result = IdleResult {
        label: common.label.clone(),
        system: Some(common.system),
        clients: args.clients,
        connected,
        failed,
        first_error: Fleet::first_error(&outcomes),
        connect_secs: connect_time.as_secs_f64(),
        hold_secs: args.hold_secs,
        alive_at_end,
        comments: outcomes.iter().map(|o| o.comments).sum(),
        server_rss_before_kib: rss_before,
        server_rss_held_kib: rss_held,
        server_rss_closed_kib: rss_closed,
    };
    eprintln!(
        "live-bench: {}: {:.2} KiB per connection ({} KiB before, {} KiB held, {} alive at the end)",
        common.label,
        result.per_connection_kib(),
        rss_before,
        rss_held,
        alive_at_end
    );
    std::fs::write(&common.out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", common.out.display()))?;
    Ok(())
}

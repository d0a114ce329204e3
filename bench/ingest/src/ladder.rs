//! The driver: publishes a ladder of offered rates at one system, waits after each step until the
//! system has stored everything (or stopped making progress), and measures loss, duplicates,
//! latency, throughput, CPU and memory per step.

use crate::sink::{Arrival, Sink};
use anyhow::{bail, Result};
use bench_common::payload::{self, PROBE_BASE, TOPICS};
use bench_common::procstat::{self, CpuMeter};
use bench_common::publish::Publisher;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A step keeps up when the broker took at least this share of the offered rate...
const PUBLISH_SHARE: f64 = 0.95;
/// ...the system stored at least this share of the publish rate, measured from the first send
/// to the last arrival (a backlog at the end of the step lowers it)...
const STORED_SHARE: f64 = 0.95;
/// ...and 99 % of messages arrived within this many milliseconds.
const P99_LIMIT_MS: f64 = 1000.0;
/// The flat-out burst is at most this many seconds of the best stored rate of the ladder.
const BURST_SECS: f64 = 20.0;
/// Waiting for a step ends when nothing arrived for this long.
const STALL: Duration = Duration::from_secs(10);
/// And in any case after this long.
const WAIT_CAP: Duration = Duration::from_secs(240);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Step {
    pub label: String,
    /// Messages per second asked of the publisher; 0 for flat out.
    pub offered: f64,
    pub messages: u64,
    pub acked: u64,
    pub publish_rate: f64,
    /// Distinct messages stored per second, from the first send to the last arrival.
    pub stored_rate: f64,
    pub stored: u64,
    pub duplicates: u64,
    pub lost: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Of one core, over the step (publish start to last arrival).
    pub cpu_pct: f64,
    pub rss_peak_kib: u64,
    pub pg_cpu_pct: Option<f64>,
    pub broker_cpu_pct: Option<f64>,
    pub publisher_cpu_pct: f64,
    pub wall_s: f64,
    pub passed: bool,
    pub verdict: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SystemResult {
    pub system: String,
    pub warmup: Step,
    pub steps: Vec<Step>,
    pub burst: Option<Step>,
    /// Index into `steps` of the highest offered rate that kept up.
    pub sustained: Option<usize>,
    /// Every step up to the highest offered rate kept up: the ceiling was not found.
    pub ceiling_not_reached: bool,
    /// VmHWM of the process under test at the end of the run.
    pub peak_rss_kib: u64,
    /// The step during which the process under test went away; the run stopped there.
    #[serde(default)]
    pub exited_during: Option<String>,
}

pub struct Driver {
    pub publisher: Publisher,
    pub sink: Sink,
    /// The process under test.
    pub pid: u32,
    pub broker_pid: Option<u32>,
    pub postmaster_pid: Option<u32>,
    /// Our own PostgreSQL backend, left out of PostgreSQL's CPU.
    pub own_backend: Option<u32>,
    pub clk_tck: f64,
    pub next_seq: u64,
}

impl Driver {
    /// Publishes probes until the system stores one: it is connected and subscribed.
    pub async fn wait_until_ready(&mut self) -> Result<()> {
        let start = Instant::now();
        let base = self.sink.progress().await?;
        let mut probe = PROBE_BASE;
        while self.sink.progress().await? == base {
            if start.elapsed() > Duration::from_secs(120) {
                bail!("the system stored none of the probes published over 120 s");
            }
            self.publisher.run(probe..probe + 1, 0.0).await?;
            probe += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Let probes still on their way land before the first step's baseline.
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.sink.arrivals(0..0, payload::now_us()).await?;
        Ok(())
    }

    pub async fn step(&mut self, label: &str, offered: f64, messages: u64) -> Result<Step> {
        let seqs = self.next_seq..self.next_seq + messages;
        self.next_seq = seqs.end;
        let broker_pids: Vec<u32> = self.broker_pid.into_iter().collect();
        let own = [std::process::id()];
        let cpu = CpuMeter::start(&[self.pid]);
        let pg_cpu = CpuMeter::start(&self.pg_pids());
        let broker_cpu = CpuMeter::start(&broker_pids);
        let own_cpu = CpuMeter::start(&own);
        let rss_peak = Arc::new(AtomicU64::new(0));
        let sampler = tokio::spawn(sample_rss(self.pid, rss_peak.clone()));

        let baseline = self.sink.progress().await?;
        let started = Instant::now();
        let published = self.publisher.run(seqs.clone(), offered).await?;
        // Wait until as many rows as messages arrived, or nothing arrived for `STALL`.
        let mut last = self.sink.progress().await?;
        let mut last_change = Instant::now();
        while last < baseline + messages {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.sink.progress().await?;
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > STALL || started.elapsed() > WAIT_CAP {
                break;
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let ticks = cpu.ticks_since(&[self.pid]);
        let pg_ticks = pg_cpu.ticks_since(&self.pg_pids());
        let broker_ticks = broker_cpu.ticks_since(&broker_pids);
        let own_ticks = own_cpu.ticks_since(&own);
        sampler.abort();

        let arrivals = self
            .sink
            .arrivals(seqs.clone(), published.first_sent_us)
            .await?;
        let pct = |ticks: u64| ticks as f64 / self.clk_tck / wall * 100.0;
        let mut step = summarize(&published.acked, &arrivals);
        step.label = label.to_owned();
        step.offered = offered;
        step.messages = messages;
        step.acked = published.acked.len() as u64;
        step.publish_rate = published.rate();
        step.cpu_pct = pct(ticks);
        step.rss_peak_kib = rss_peak.load(Ordering::Acquire);
        step.pg_cpu_pct = self.postmaster_pid.map(|_| pct(pg_ticks));
        step.broker_cpu_pct = self.broker_pid.map(|_| pct(broker_ticks));
        step.publisher_cpu_pct = pct(own_ticks);
        step.wall_s = wall;
        judge(&mut step);
        eprintln!(
            "ingest-bench: {label}: offered {offered:.0}/s, published {:.0}/s, stored {:.0}/s, \
             lost {}, dup {}, p50 {:.1} ms, p99 {:.1} ms, cpu {:.0}%, {}",
            step.publish_rate,
            step.stored_rate,
            step.lost,
            step.duplicates,
            step.p50_ms,
            step.p99_ms,
            step.cpu_pct,
            step.verdict
        );
        Ok(step)
    }

    fn pg_pids(&self) -> Vec<u32> {
        let Some(postmaster) = self.postmaster_pid else {
            return Vec::new();
        };
        procstat::with_children(postmaster)
            .into_iter()
            .filter(|pid| Some(*pid) != self.own_backend)
            .collect()
    }

    /// Warm-up, then the ladder until a step fails to keep up, then `refine` bisections between
    /// the last good and the first bad rate, then one flat-out burst.
    pub async fn run(
        &mut self,
        system: &str,
        rates: &[f64],
        step_secs: f64,
        refine: u32,
        burst: u64,
    ) -> Result<SystemResult> {
        let mut result = SystemResult {
            system: system.to_owned(),
            ..Default::default()
        };
        self.wait_until_ready().await?;
        // One message per topic: topics exist and caches are warm before anything is measured.
        let mut warmup = self.step("warm-up", 2000.0, TOPICS).await?;
        // Only loss matters here: a slow system may take longer than the half second offered.
        warmup.passed = warmup.lost == 0;
        warmup.verdict = if warmup.passed {
            "no loss"
        } else {
            "LOST MESSAGES"
        }
        .to_owned();
        result.warmup = warmup;

        let mut good: Option<f64> = None;
        let mut bad: Option<f64> = None;
        for &rate in rates {
            let step = self.timed_step(rate, step_secs).await?;
            let passed = step.passed;
            let label = step.label.clone();
            result.steps.push(step);
            if !self.alive() {
                eprintln!(
                    "ingest-bench: the process under test ({}) exited during {label}",
                    self.pid
                );
                result.exited_during = Some(label);
                return Ok(result);
            }
            if passed {
                good = Some(rate);
            } else {
                bad = Some(rate);
                break;
            }
        }
        if let (Some(low), Some(high)) = (good, bad) {
            let (mut low, mut high) = (low, high);
            for _ in 0..refine {
                // Two significant digits: 1,500 between 1,000 and 2,000; 65,000 between 60,000
                // and 70,000.
                let unit = 10f64.powf(high.log10().floor() - 1.0);
                let mid = ((low + high) / 2.0 / unit).round() * unit;
                if mid <= low || mid >= high {
                    break;
                }
                let step = self.timed_step(mid, step_secs).await?;
                if !self.alive() {
                    result.exited_during = Some(step.label.clone());
                    result.steps.push(step);
                    return Ok(result);
                }
                if step.passed {
                    low = mid;
                } else {
                    high = mid;
                }
                result.steps.push(step);
            }
        }
        result.ceiling_not_reached = bad.is_none();
        result.sustained = result
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.passed)
            .max_by(|a, b| a.1.offered.total_cmp(&b.1.offered))
            .map(|(i, _)| i);
        if burst > 0 {
            // About 20 s of the best rate seen, so a slow system does not drain for minutes.
            let best = result
                .steps
                .iter()
                .map(|s| s.stored_rate)
                .fold(0.0, f64::max);
            let messages = burst.min((best * BURST_SECS) as u64).max(10_000);
            result.burst = Some(self.step("flat out", 0.0, messages).await?);
        }
        result.peak_rss_kib = procstat::memory_kib(self.pid).map(|m| m.1).unwrap_or(0);
        Ok(result)
    }

    fn alive(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    async fn timed_step(&mut self, rate: f64, step_secs: f64) -> Result<Step> {
        let messages = (rate * step_secs).round() as u64;
        // A short pause so each step starts from an idle system.
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.step(&format!("{rate:.0}/s"), rate, messages).await
    }
}

async fn sample_rss(pid: u32, peak: Arc<AtomicU64>) {
    loop {
        if let Some((rss, _)) = procstat::memory_kib(pid) {
            peak.fetch_max(rss, Ordering::AcqRel);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Loss, duplicates, latency and throughput of one step.
fn summarize(acked: &[u64], arrivals: &[Arrival]) -> Step {
    let mut first: HashMap<u64, Arrival> = HashMap::with_capacity(arrivals.len());
    let mut duplicates = 0;
    for arrival in arrivals {
        match first.get_mut(&arrival.seq) {
            Some(seen) => {
                duplicates += 1;
                if arrival.at_us < seen.at_us {
                    *seen = *arrival;
                }
            }
            None => {
                first.insert(arrival.seq, *arrival);
            }
        }
    }
    let lost = acked.iter().filter(|seq| !first.contains_key(seq)).count() as u64;
    let mut latencies: Vec<f64> = first
        .values()
        .map(|a| (a.at_us as f64 - a.sent_us as f64) / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index]
    };
    let first_sent = first.values().map(|a| a.sent_us).min().unwrap_or(0);
    let last_at = first.values().map(|a| a.at_us).max().unwrap_or(0);
    let span = last_at.saturating_sub(first_sent).max(1);
    Step {
        stored: first.len() as u64,
        duplicates,
        lost,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        stored_rate: first.len() as f64 * 1e6 / span as f64,
        ..Default::default()
    }
}

fn judge(step: &mut Step) {
    let mut problems = Vec::new();
    if step.lost > 0 {
        problems.push(format!("lost {}", step.lost));
    }
    if step.acked < step.messages {
        problems.push(format!(
            "broker acknowledged {} of {}",
            step.acked, step.messages
        ));
    }
    if step.offered > 0.0 {
        if step.publish_rate < PUBLISH_SHARE * step.offered {
            problems.push("publisher below the offered rate".to_owned());
        }
        if step.stored_rate < STORED_SHARE * step.publish_rate {
            problems.push("stored slower than published".to_owned());
        }
        if step.p99_ms.is_nan() || step.p99_ms > P99_LIMIT_MS {
            problems.push(format!("p99 over {P99_LIMIT_MS:.0} ms"));
        }
    }
    step.passed = problems.is_empty();
    step.verdict = if step.passed {
        "kept up".to_owned()
    } else {
        problems.join("; ")
    };
}

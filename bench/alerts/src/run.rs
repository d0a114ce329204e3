//! One run against one Lookout: the webhook channel and (in the measured run) the rules made
//! through the admin forms, then the same load as every other run: a warm-up message per topic,
//! the offered rate for a fixed time with the triggering messages among it, and a flat-out burst.
//! What was stored, how fast, at what CPU, and when each trigger's webhook request arrived.

use crate::http::{self, form_body, FormClient, Head, Receiver};
use crate::store::{Arrival, Store};
use crate::triggers::{self, Sent, Subscriber, TriggerClient, THRESHOLD, TRIGGER_BASE};
use anyhow::{bail, Context, Result};
use bench_common::payload::{Topics, PROBE_BASE};
use bench_common::procstat::{self, CpuMeter};
use bench_common::publish::Publisher;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The channel every rule tells.
const CHANNEL: &str = "bench webhook";
/// Waiting for a step's rows ends when nothing was stored for this long...
const STALL: Duration = Duration::from_secs(10);
/// ...or in any case after this long.
const WAIT_CAP: Duration = Duration::from_secs(240);
/// Waiting for webhooks ends when none came for this long after the last trigger was stored.
const WEBHOOK_QUIET: Duration = Duration::from_secs(15);
/// What Lookout logs when its alert engine fell behind the live hub.
const CATCH_UP: &str = "alert rules catch up on missed messages";
/// How long the engine may take to read new rules (it reads them every 10 s) and fire the probe.
const RULES_PATIENCE: Duration = Duration::from_secs(120);

#[derive(clap::Args)]
pub struct RunArgs {
    /// A name for the report.
    #[arg(long)]
    label: String,
    #[arg(long)]
    mqtt_port: u16,
    /// Lookout's HTTP port.
    #[arg(long)]
    http_port: u16,
    /// Lookout's database, read for what it stored.
    #[arg(long)]
    database_url: String,
    /// Lookout's process.
    #[arg(long)]
    pid: u32,
    #[arg(long)]
    broker_pid: Option<u32>,
    #[arg(long)]
    postmaster_pid: Option<u32>,
    /// The admin the forms are posted as, and a file holding its password.
    #[arg(long)]
    admin: String,
    #[arg(long)]
    password_file: PathBuf,
    /// Threshold rules to make, one per topic: 0 (the reference) or --topics.
    #[arg(long, default_value_t = 0)]
    rules: u64,
    #[arg(long, default_value_t = 10_000)]
    topics: u64,
    /// Messages per second offered during the timed step.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Triggering messages during the timed step, each on a topic of its own.
    #[arg(long, default_value_t = 500)]
    triggers: u64,
    /// Messages of the flat-out burst (0: none).
    #[arg(long, default_value_t = 600_000)]
    burst: u64,
    /// Publishes awaiting the broker's PubAck at most.
    #[arg(long, default_value_t = 1000)]
    window: u16,
    /// Form posts in flight at once while making the rules.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value_t = 100.0)]
    clk_tck: f64,
    /// Lookout's log, for the times its alert engine fell behind the live hub during a step.
    #[arg(long)]
    log: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

/// One step's load and what came of it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Step {
    pub label: String,
    /// Messages per second asked of the publisher; 0 for flat out.
    pub offered: f64,
    pub messages: u64,
    pub acked: u64,
    pub publish_rate: f64,
    /// Distinct messages of the step stored, and per second from the first send to the last
    /// commit.
    pub stored: u64,
    pub stored_rate: f64,
    pub duplicates: u64,
    pub lost: u64,
    /// Commit − publish.
    #[serde(deserialize_with = "nan_if_null")]
    pub p50_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max_ms: f64,
    /// From the first send until everything was stored (or the wait gave up).
    pub wall_s: f64,
    /// CPU seconds over `wall_s`: Lookout, PostgreSQL (its backends but ours), the broker, this
    /// program (the publisher, the receiver, the reference subscriber).
    pub cpu_s: f64,
    pub pg_cpu_s: Option<f64>,
    pub broker_cpu_s: Option<f64>,
    pub own_cpu_s: f64,
    pub rss_peak_kib: u64,
    /// Times the alert engine fell behind the live hub and caught up on each topic's newest
    /// message instead (its log's `alert rules catch up on missed messages`).
    #[serde(default)]
    pub catch_ups: u64,
}

impl Step {
    /// Lookout's CPU per message stored, in microseconds.
    pub fn us_per_msg(&self) -> f64 {
        self.cpu_s * 1e6 / self.stored.max(1) as f64
    }

    /// Lookout's and PostgreSQL's together.
    pub fn us_per_msg_with_pg(&self) -> f64 {
        (self.cpu_s + self.pg_cpu_s.unwrap_or(0.0)) * 1e6 / self.stored.max(1) as f64
    }

    /// A share of one core over the step.
    pub fn pct(&self, seconds: f64) -> f64 {
        seconds / self.wall_s.max(1e-9) * 100.0
    }
}

/// A latency of nothing measured is NaN, which JSON writes as `null`: read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Latencies, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Spread {
    pub count: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub p50_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_ms: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max_ms: f64,
}

impl Spread {
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let pick = |q: f64| -> f64 {
            if values.is_empty() {
                return f64::NAN;
            }
            let index = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
            values[index]
        };
        Spread {
            count: values.len(),
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p99_ms: pick(0.99),
            max_ms: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// The triggering messages of the timed step and what each reached.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Triggers {
    pub sent: u64,
    /// Between one trigger and the next.
    pub spacing_ms: f64,
    /// Triggers whose webhook request arrived, and those whose did not.
    pub webhooks: u64,
    pub missing: u64,
    /// Firing webhook requests beyond the first for a trigger's topic; resolved ones for a
    /// trigger's topic (the next ordinary message there ends the firing); any others.
    pub repeats: u64,
    #[serde(default)]
    pub resolves: u64,
    pub other: u64,
    /// Publish → the webhook request at the receiver.
    pub webhook: Spread,
    /// Publish → a plain MQTT subscriber of the same topics got it from the broker.
    pub broker: Spread,
    /// Publish → Lookout committed the triggering message's row.
    pub stored: Spread,
    /// Each trigger in the order sent: its publish time, and publish → webhook (`None`: none
    /// came), for a look at when the slow ones fell.
    #[serde(default)]
    pub each: Vec<(u64, Option<f64>)>,
    /// When the alert engine logged a catch-up after falling behind, during the run.
    #[serde(default)]
    pub catch_ups_us: Vec<u64>,
}

impl Triggers {
    /// Triggers whose webhook took longer than `limit_ms` or never came: how many, and how many
    /// of them were published at most `window_us` before one of the engine's catch-ups; and
    /// the same share among all triggers, to compare with.
    pub fn late_near_catch_ups(&self, limit_ms: f64, window_us: u64) -> (usize, usize, usize) {
        let near = |sent_us: u64| {
            self.catch_ups_us
                .iter()
                .any(|&at| at >= sent_us && at - sent_us <= window_us)
        };
        let late: Vec<u64> = self
            .each
            .iter()
            .filter(|(_, ms)| ms.is_none_or(|ms| ms > limit_ms))
            .map(|(sent_us, _)| *sent_us)
            .collect();
        let late_near = late.iter().filter(|&&at| near(at)).count();
        let all_near = self.each.iter().filter(|(at, _)| near(*at)).count();
        (late.len(), late_near, all_near)
    }
}

/// Microseconds since the Unix epoch of a log line's `"timestamp":"2026-12-06T20:41:48.762629Z"`.
fn log_time_us(line: &str) -> Option<u64> {
    let at = line.find("\"timestamp\":\"")? + 13;
    let text = line.get(at..at + 27)?;
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let micros = number(20..26)?;
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds * 1_000_000 + micros).ok()
}

/// The rules and the channel as made through the forms.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Setup {
    pub rules: u64,
    pub secs: f64,
    pub connections: usize,
    /// From the last rule made until the engine fired the probe rule: it had read them all.
    pub rules_read_secs: f64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RunResult {
    pub label: String,
    pub rules: u64,
    pub topics: u64,
    pub rate: f64,
    pub secs: f64,
    pub setup: Option<Setup>,
    pub warmup: Step,
    pub steady: Step,
    pub triggers: Triggers,
    pub burst: Option<Step>,
    /// VmHWM of Lookout at the end of the run.
    pub peak_rss_kib: u64,
}

pub async fn run(args: RunArgs) -> Result<()> {
    if args.rules != 0 && args.rules != args.topics {
        bail!("--rules is 0 (the reference) or one per topic (--topics)");
    }
    let topics = Topics {
        count: args.topics,
        groups: 1,
    };
    let server: SocketAddr = ([127, 0, 0, 1], args.http_port).into();
    let store = Store::connect(&args.database_url).await?;
    let (hook, receiver) = Receiver::start().await?;
    let password = std::fs::read_to_string(&args.password_file)
        .with_context(|| format!("cannot read {}", args.password_file.display()))?;
    let cookie = http::log_in(server, &args.admin, password.trim()).await?;

    // The channel, in every run alike: a channel no rule names costs nothing.
    let mut forms = FormClient::connect(server, cookie.clone()).await?;
    let url = format!("http://{hook}/hook");
    let answer = forms
        .post(
            "/admin/alerts/channels/add",
            &form_body(&[
                ("name", CHANNEL),
                ("format", "webhook"),
                ("url", &url),
                ("template", ""),
            ]),
        )
        .await?;
    expect_outcome(&answer.0, "done=channel_added")?;
    let channel = store.channel_id(CHANNEL).await?;

    let mut setup = None;
    if args.rules > 0 {
        eprintln!(
            "alerts-bench: {}: making {} rules through the admin form",
            args.label, args.rules
        );
        setup = Some(
            add_rules(
                server,
                &cookie,
                channel,
                args.rules,
                topics,
                args.connections,
            )
            .await?,
        );
    }

    let publisher = Publisher::connect("127.0.0.1", args.mqtt_port, args.window)
        .await?
        .spread_over(topics);
    let trigger_client = TriggerClient::connect(args.mqtt_port, topics);
    let mut driver = Driver {
        publisher,
        own_backend: store.backend_pid,
        store,
        pid: args.pid,
        broker_pid: args.broker_pid,
        postmaster_pid: args.postmaster_pid,
        clk_tck: args.clk_tck,
        log: args.log.clone(),
        next_seq: 0,
    };
    driver.wait_until_stored().await?;
    if let Some(setup) = &mut setup {
        // The engine reads the rules at each look of the uptime watcher: the probe rule, made
        // last, fires once it has read them all.
        let started = Instant::now();
        let probe = triggers::probe_topic(args.topics);
        let mut n = 0;
        while receiver.count() == 0 {
            if started.elapsed() > RULES_PATIENCE {
                bail!(
                    "the probe rule did not fire within {} s of the rules being made",
                    RULES_PATIENCE.as_secs()
                );
            }
            trigger_client
                .send(triggers::PROBE_TRIGGER_BASE + n, probe)
                .await?;
            n += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        setup.rules_read_secs = started.elapsed().as_secs_f64();
        eprintln!(
            "alerts-bench: the engine fired the probe rule {:.1} s after the last rule was made",
            setup.rules_read_secs
        );
    }

    let mut result = RunResult {
        label: args.label.clone(),
        rules: args.rules,
        topics: args.topics,
        rate: args.rate,
        secs: args.secs,
        setup,
        ..Default::default()
    };
    // One message per topic: every topic exists, and every rule has seen its topic once.
    let (warmup, _, _) = driver.step("warm-up", args.rate, args.topics, None).await?;
    result.warmup = warmup;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The probe's notices (its firing, and its end with the warm-up's message) are not the
    // step's.
    receiver.take();

    // The timed step with the triggers among it, and the reference subscriber on their topics.
    let plan = triggers::plan(args.triggers, args.topics);
    let trigger_topics: Vec<String> = plan.iter().map(|&t| topics.name(t)).collect();
    let trigger_seqs = TRIGGER_BASE..TRIGGER_BASE + plan.len() as u64;
    let subscriber =
        Subscriber::connect(args.mqtt_port, &trigger_topics, trigger_seqs.clone()).await?;
    let messages = (args.rate * args.secs).round() as u64;
    let label = format!("{:.0}/s", args.rate);
    let (steady, sent, stored) = driver
        .step(
            &label,
            args.rate,
            messages,
            Some((&trigger_client, &plan, args.secs)),
        )
        .await?;
    result.steady = steady;

    // Webhooks still on their way: until every trigger's came, or none for a while.
    let mut last_count = receiver.count();
    let mut last_change = Instant::now();
    while (receiver.count() as u64) < sent.len() as u64 && args.rules > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let count = receiver.count();
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        } else if last_change.elapsed() > WEBHOOK_QUIET {
            break;
        }
    }
    let broker_received = subscriber.received.lock().unwrap().clone();
    subscriber.disconnect().await;
    let catch_ups_us = driver.catch_up_times();
    result.triggers = match_triggers(
        &sent,
        &receiver.take(),
        &broker_received,
        &stored,
        args.secs,
    );
    result.triggers.catch_ups_us = catch_ups_us;
    let t = &result.triggers;
    eprintln!(
        "alerts-bench: {}: {} triggers, {} webhooks (p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms), \
         {} missing; broker to a subscriber p99 {:.1} ms",
        args.label,
        t.sent,
        t.webhooks,
        t.webhook.p50_ms,
        t.webhook.p99_ms,
        t.webhook.max_ms,
        t.missing,
        t.broker.p99_ms
    );

    if args.burst > 0 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (burst, _, _) = driver.step("flat out", 0.0, args.burst, None).await?;
        result.burst = Some(burst);
    }
    if !driver.alive() {
        bail!("Lookout (pid {}) exited during the run", driver.pid);
    }
    result.peak_rss_kib = procstat::memory_kib(driver.pid).map(|m| m.1).unwrap_or(0);
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(())
}

/// The redirect a form answers with must name `outcome` (`done=…`), or the form was refused.
fn expect_outcome(head: &Head, outcome: &str) -> Result<()> {
    let location = head.header("location").unwrap_or_default();
    if head.status != 303 || !location.contains(outcome) {
        bail!(
            "a form was answered {} {location:?}, expected a redirect with {outcome}",
            head.status
        );
    }
    Ok(())
}

/// Rule `i` watches topic `i`: `/temperature` above [`THRESHOLD`] at once (a duration of 0),
/// telling the channel when it fires and when it resolves, at the threshold itself: the new-rule
/// form's defaults (warning, 0 s, tell when it resolves, the flap guard's defaults).
fn rule_form(i: u64, topic: &str, channel: &str) -> String {
    let name = format!("bench rule {i:05}");
    let trigger = format!("{THRESHOLD}");
    form_body(&[
        ("name", &name),
        ("kind", "threshold"),
        ("topics", topic),
        ("pointer", "/temperature"),
        ("direction", "above"),
        ("trigger", &trigger),
        ("recover", ""),
        ("for_seconds", "0"),
        ("reminder_minutes", ""),
        ("notify_resolve", "on"),
        ("flap_changes", ""),
        ("flap_minutes", ""),
        ("severity", "warning"),
        ("channel", channel),
    ])
}

/// Makes `count` rules through the admin form, `connections` posts in flight at once; the last
/// one made is the probe topic's.
async fn add_rules(
    server: SocketAddr,
    cookie: &str,
    channel: i64,
    count: u64,
    topics: Topics,
    connections: usize,
) -> Result<Setup> {
    let started = Instant::now();
    let probe = triggers::probe_topic(count);
    let next = Arc::new(AtomicU64::new(0));
    let channel = channel.to_string();
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (next, channel) = (next.clone(), channel.clone());
        let mut client = FormClient::connect(server, cookie.to_owned()).await?;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::AcqRel);
                // Every other rule first; the probe's (the last topic's) after them all.
                if i >= probe {
                    return Ok::<_, anyhow::Error>(());
                }
                let body = rule_form(i, &topics.name(i), &channel);
                let (head, _) = client.post("/admin/alerts/rules/add", &body).await?;
                expect_outcome(&head, "done=alert_rule_added")
                    .with_context(|| format!("rule {i}"))?;
                if (i + 1) % 1000 == 0 {
                    eprintln!(
                        "alerts-bench: {} rules made in {:.0} s",
                        i + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let mut client = FormClient::connect(server, cookie.to_owned()).await?;
    let (head, _) = client
        .post(
            "/admin/alerts/rules/add",
            &rule_form(probe, &topics.name(probe), &channel),
        )
        .await?;
    expect_outcome(&head, "done=alert_rule_added")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "alerts-bench: {count} rules made in {secs:.1} s ({:.0} per second)",
        count as f64 / secs
    );
    Ok(Setup {
        rules: count,
        secs,
        connections,
        rules_read_secs: 0.0,
    })
}

/// Each trigger's webhook, its delivery by the broker and its row.
fn match_triggers(
    sent: &[Sent],
    webhooks: &[http::Received],
    broker: &HashMap<u64, u64>,
    stored: &[Arrival],
    secs: f64,
) -> Triggers {
    let by_topic: HashMap<&str, &Sent> = sent.iter().map(|s| (s.topic.as_str(), s)).collect();
    let mut first: HashMap<u64, u64> = HashMap::new();
    let (mut repeats, mut resolves, mut other) = (0, 0, 0);
    for webhook in webhooks {
        let body: serde_json::Value = serde_json::from_slice(&webhook.body).unwrap_or_default();
        let subject = body["subject"].as_str().unwrap_or_default();
        match by_topic.get(subject) {
            Some(trigger) if body["state"] == "firing" => match first.get_mut(&trigger.seq) {
                Some(at_us) => {
                    repeats += 1;
                    *at_us = (*at_us).min(webhook.at_us);
                }
                None => {
                    first.insert(trigger.seq, webhook.at_us);
                }
            },
            Some(_) if body["state"] == "resolved" => resolves += 1,
            _ => other += 1,
        }
    }
    let since = |at_us: u64, sent_us: u64| (at_us as f64 - sent_us as f64) / 1000.0;
    let each: Vec<(u64, Option<f64>)> = sent
        .iter()
        .map(|s| (s.sent_us, first.get(&s.seq).map(|at| since(*at, s.sent_us))))
        .collect();
    let webhook: Vec<f64> = each.iter().filter_map(|(_, ms)| *ms).collect();
    let broker: Vec<f64> = sent
        .iter()
        .filter_map(|s| Some(since(*broker.get(&s.seq)?, s.sent_us)))
        .collect();
    let mut seen = HashSet::new();
    let stored: Vec<f64> = stored
        .iter()
        .filter(|a| seen.insert(a.seq))
        .map(|a| since(a.at_us, a.sent_us))
        .collect();
    Triggers {
        sent: sent.len() as u64,
        spacing_ms: secs * 0.8 * 1000.0 / sent.len().max(1) as f64,
        webhooks: first.len() as u64,
        missing: (sent.len() - first.len()) as u64,
        repeats,
        resolves,
        other,
        webhook: Spread::of(webhook),
        broker: Spread::of(broker),
        stored: Spread::of(stored),
        each,
        catch_ups_us: Vec::new(),
    }
}

struct Driver {
    publisher: Publisher,
    store: Store,
    own_backend: u32,
    pid: u32,
    broker_pid: Option<u32>,
    postmaster_pid: Option<u32>,
    clk_tck: f64,
    log: Option<PathBuf>,
    next_seq: u64,
}

impl Driver {
    /// Publishes probes until Lookout stores one: it is connected and subscribed.
    async fn wait_until_stored(&mut self) -> Result<()> {
        let start = Instant::now();
        let base = self.store.progress().await?;
        let mut probe = PROBE_BASE;
        while self.store.progress().await? == base {
            if start.elapsed() > Duration::from_secs(120) {
                bail!("Lookout stored none of the probes published over 120 s");
            }
            self.publisher.run(probe..probe + 1, 0.0).await?;
            probe += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }

    fn pg_pids(&self) -> Vec<u32> {
        let Some(postmaster) = self.postmaster_pid else {
            return Vec::new();
        };
        procstat::with_children(postmaster)
            .into_iter()
            .filter(|pid| *pid != self.own_backend)
            .collect()
    }

    /// Lines of Lookout's log saying the alert engine caught up after falling behind.
    fn catch_ups(&self) -> u64 {
        self.catch_up_times().len() as u64
    }

    /// When each of those was logged.
    fn catch_up_times(&self) -> Vec<u64> {
        let Some(log) = &self.log else {
            return Vec::new();
        };
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(CATCH_UP))
            .map(|line| log_time_us(line).unwrap_or(0))
            .collect()
    }

    fn alive(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// Publishes `messages` at `offered` (0: flat out), with `triggers` (the client, the topic of
    /// each, the step's length in seconds) sent meanwhile; waits until everything is stored. The
    /// step, the triggers as sent, and the triggers' rows.
    async fn step(
        &mut self,
        label: &str,
        offered: f64,
        messages: u64,
        triggers: Option<(&TriggerClient, &[u64], f64)>,
    ) -> Result<(Step, Vec<Sent>, Vec<Arrival>)> {
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

        let catch_ups = self.catch_ups();
        let baseline = self.store.progress().await?;
        let started = Instant::now();
        let (published, sent) = match triggers {
            Some((client, plan, secs)) => {
                let (published, sent) = tokio::join!(
                    self.publisher.run(seqs.clone(), offered),
                    client.run(plan, started, secs)
                );
                (published?, sent?)
            }
            None => (self.publisher.run(seqs.clone(), offered).await?, Vec::new()),
        };
        // Until as many rows as messages (the triggers' too) were stored, or none for `STALL`.
        let target = baseline + published.acked.len() as u64 + sent.len() as u64;
        let mut last = self.store.progress().await?;
        let mut last_change = Instant::now();
        while last < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.store.progress().await?;
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > STALL || started.elapsed() > WAIT_CAP {
                break;
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let seconds = |ticks: u64| ticks as f64 / self.clk_tck;
        let cpu_s = seconds(cpu.ticks_since(&[self.pid]));
        let pg_cpu_s = seconds(pg_cpu.ticks_since(&self.pg_pids()));
        let broker_cpu_s = seconds(broker_cpu.ticks_since(&broker_pids));
        let own_cpu_s = seconds(own_cpu.ticks_since(&own));
        sampler.abort();

        let trigger_seqs = TRIGGER_BASE..TRIGGER_BASE + sent.len() as u64;
        let arrivals = self
            .store
            .arrivals(
                &[seqs.clone(), trigger_seqs.clone()],
                published.first_sent_us,
            )
            .await?;
        let (trigger_rows, rows): (Vec<Arrival>, Vec<Arrival>) = arrivals
            .into_iter()
            .partition(|a| trigger_seqs.contains(&a.seq));
        let mut step = summarize(&published.acked, &rows, seqs);
        step.label = label.to_owned();
        step.offered = offered;
        step.messages = messages;
        step.acked = published.acked.len() as u64;
        step.publish_rate = published.rate();
        step.wall_s = wall;
        step.cpu_s = cpu_s;
        step.pg_cpu_s = self.postmaster_pid.map(|_| pg_cpu_s);
        step.broker_cpu_s = self.broker_pid.map(|_| broker_cpu_s);
        step.own_cpu_s = own_cpu_s;
        step.rss_peak_kib = rss_peak.load(Ordering::Acquire);
        step.catch_ups = self.catch_ups().saturating_sub(catch_ups);
        eprintln!(
            "alerts-bench: {label}: offered {offered:.0}/s, published {:.0}/s, stored {:.0}/s, \
             lost {}, p50 {:.1} ms, p99 {:.1} ms, Lookout {:.0} % ({:.1} µs/msg), PostgreSQL {:.0} %, \
             {} catch-ups of the alert engine",
            step.publish_rate,
            step.stored_rate,
            step.lost,
            step.p50_ms,
            step.p99_ms,
            step.pct(step.cpu_s),
            step.us_per_msg(),
            step.pct(pg_cpu_s),
            step.catch_ups,
        );
        Ok((step, sent, trigger_rows))
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

/// Loss, duplicates, latency and throughput of one step's rows.
fn summarize(acked: &[u64], arrivals: &[Arrival], seqs: Range<u64>) -> Step {
    let mut first: HashMap<u64, Arrival> = HashMap::with_capacity(arrivals.len());
    let mut duplicates = 0;
    for arrival in arrivals.iter().filter(|a| seqs.contains(&a.seq)) {
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
    let latencies = Spread::of(
        first
            .values()
            .map(|a| (a.at_us as f64 - a.sent_us as f64) / 1000.0)
            .collect(),
    );
    let first_sent = first.values().map(|a| a.sent_us).min().unwrap_or(0);
    let last_at = first.values().map(|a| a.at_us).max().unwrap_or(0);
    let span = last_at.saturating_sub(first_sent).max(1);
    Step {
        stored: first.len() as u64,
        stored_rate: first.len() as f64 * 1e6 / span as f64,
        duplicates,
        lost,
        p50_ms: latencies.p50_ms,
        p99_ms: latencies.p99_ms,
        max_ms: latencies.max_ms,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_pick_the_nearest_rank() {
        let spread = Spread::of((1..=100).map(f64::from).rev().collect());
        assert_eq!(spread.count, 100);
        assert_eq!(spread.p50_ms, 50.0);
        assert_eq!(spread.p90_ms, 90.0);
        assert_eq!(spread.p99_ms, 99.0);
        assert_eq!(spread.max_ms, 100.0);
        assert!(Spread::of(Vec::new()).p99_ms.is_nan());
    }

    #[test]
    fn nothing_measured_comes_back_from_json_as_nan() {
        let step = Step::default();
        let spread = Spread::of(Vec::new());
        let step: Step = serde_json::from_str(
            &serde_json::to_string(&Step {
                p99_ms: f64::NAN,
                ..step
            })
            .unwrap(),
        )
        .unwrap();
        assert!(step.p99_ms.is_nan());
        let spread: Spread =
            serde_json::from_str(&serde_json::to_string(&spread).unwrap()).unwrap();
        assert!(spread.p50_ms.is_nan());
    }

    #[test]
    fn log_times_are_read_as_microseconds_since_the_epoch() {
        let line = r#"{"timestamp":"2026-12-06T20:41:48.762629Z","level":"INFO","message":"x"}"#;
        assert_eq!(log_time_us(line), Some(1_796_589_708_762_629));
        let epoch = r#"{"timestamp":"1970-01-01T00:00:00.000001Z"}"#;
        assert_eq!(log_time_us(epoch), Some(1));
        assert_eq!(log_time_us("no time here"), None);
    }

    #[test]
    fn late_triggers_are_set_beside_the_catch_ups() {
        let triggers = Triggers {
            each: vec![
                (1_000_000, Some(20.0)),
                (2_000_000, Some(250.0)),
                (3_000_000, None),
                (4_000_000, Some(150.0)),
            ],
            catch_ups_us: vec![2_100_000, 3_400_000],
            ..Triggers::default()
        };
        assert_eq!(triggers.late_near_catch_ups(100.0, 500_000), (3, 2, 2));
    }

    #[test]
    fn a_rule_form_has_the_fields_the_admin_page_posts() {
        let body = rule_form(7, "bench/dev-0007", "3");
        assert_eq!(
            body,
            "name=bench%20rule%2000007&kind=threshold&topics=bench%2Fdev-0007&\
             pointer=%2Ftemperature&direction=above&trigger=1000&recover=&for_seconds=0&\
             reminder_minutes=&notify_resolve=on&flap_changes=&flap_minutes=&severity=warning&\
             channel=3"
        );
    }

    #[test]
    fn each_trigger_is_matched_with_its_first_firing_webhook() {
        let sent = vec![
            Sent {
                seq: TRIGGER_BASE,
                topic: "bench/dev-0000".to_owned(),
                sent_us: 1_000_000,
            },
            Sent {
                seq: TRIGGER_BASE + 1,
                topic: "bench/dev-0005".to_owned(),
                sent_us: 2_000_000,
            },
        ];
        let hook = |subject: &str, state: &str, at_us: u64| http::Received {
            at_us,
            body: serde_json::json!({"subject": subject, "state": state})
                .to_string()
                .into_bytes(),
        };
        let webhooks = vec![
            hook("bench/dev-0000", "firing", 1_020_000),
            hook("bench/dev-0000", "firing", 1_500_000),
            hook("bench/dev-9999", "firing", 1_600_000),
            hook("bench/dev-0000", "resolved", 1_700_000),
        ];
        let broker = HashMap::from([(TRIGGER_BASE, 1_001_000), (TRIGGER_BASE + 1, 2_002_000)]);
        let triggers = match_triggers(&sent, &webhooks, &broker, &[], 10.0);
        assert_eq!(triggers.webhooks, 1);
        assert_eq!(triggers.missing, 1);
        assert_eq!(triggers.repeats, 1);
        assert_eq!(triggers.resolves, 1);
        assert_eq!(triggers.other, 1);
        assert_eq!(triggers.webhook.max_ms, 20.0);
        assert_eq!(triggers.broker.max_ms, 2.0);
    }
}

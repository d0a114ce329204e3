//! The Markdown report: Lookout's SSE beside MQTT over WebSocket, the idle connections, every
//! counter, and how it was measured.

use crate::analysis::Group;
use crate::run::{IdleResult, StreamResult};
use anyhow::{Context, Result};
use bench_common::markdown::{mib, ms, pct, read_meta, thousands};
use serde::de::DeserializeOwned;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// p99 ≤ this with nothing lost, in full mode.
const GOAL_P99_MS: f64 = 20.0;
/// Per idle SSE connection.
const GOAL_IDLE_KIB: f64 = 10.0;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// key=value lines: machine, versions, parameters.
    #[arg(long)]
    meta: PathBuf,
    /// (a) MQTT over WebSocket, every message.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// (a) run again at the end of the run: the faster of the two is the reference.
    #[arg(long)]
    reference_again: Option<PathBuf>,
    /// (a′) plain MQTT, every message: the broker's own floor.
    #[arg(long)]
    plain: Option<PathBuf>,
    /// (b) Lookout's SSE, every message.
    #[arg(long)]
    full: Option<PathBuf>,
    /// (c) Lookout's SSE, the clients following everything conflated.
    #[arg(long)]
    conflated: Option<PathBuf>,
    /// Idle MQTT-over-WebSocket connections to the broker.
    #[arg(long)]
    reference_idle: Option<PathBuf>,
    /// Idle SSE connections to Lookout.
    #[arg(long)]
    idle: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

/// Two reference runs differing by more than this (per-topic p99, or publish rate) mean that
/// the machine disturbed one of them.
const REFERENCE_SPREAD: f64 = 0.25;
/// ... unless their p99 latencies are within this many milliseconds of each other.
const REFERENCE_JITTER_MS: f64 = 10.0;

/// The reference, from its run at the start and its run at the end: the faster (lower per-topic
/// p99), which is the harder comparison for Lookout; and a line saying what both did.
fn pick_reference(
    first: Option<StreamResult>,
    again: Option<StreamResult>,
) -> (Option<StreamResult>, String) {
    let (first, again) = match (first, again) {
        (Some(first), Some(again)) => (first, again),
        (one, other) => return (one.or(other), String::new()),
    };
    let p99 = |r: &StreamResult| group(Some(r), "per-topic").map_or(f64::MAX, |g| g.latency.p99_ms);
    let apart = |a: f64, b: f64| (a - b).abs() > REFERENCE_SPREAD * a.max(b);
    // A few milliseconds either way is the machine's ordinary jitter, not a disturbance.
    let disturbed = (apart(p99(&first), p99(&again))
        && (p99(&first) - p99(&again)).abs() > REFERENCE_JITTER_MS)
        || apart(first.publish_rate, again.publish_rate);
    let describe = |r: &StreamResult| {
        format!(
            "per-topic p99 {}, broker took {} msg/s",
            ms(p99(r)),
            thousands(r.publish_rate.round() as u64)
        )
    };
    let note = format!(
        "- **The reference (a) ran twice**, first and last in this run: {} at the start, {} at \
         the end; {}. The comparisons use the {} run.\n",
        describe(&first),
        describe(&again),
        if disturbed {
            format!(
                "they differ by more than {:.0} %, so one of them was disturbed by the shared \
                 machine",
                REFERENCE_SPREAD * 100.0
            )
        } else {
            format!(
                "they agree within {:.0} % (or {} of p99)",
                REFERENCE_SPREAD * 100.0,
                ms(REFERENCE_JITTER_MS)
            )
        },
        if p99(&again) < p99(&first) { "last (faster)" } else { "first (faster)" },
    );
    let faster = if p99(&again) < p99(&first) { again } else { first };
    (Some(faster), note)
}

fn load<T: DeserializeOwned>(path: Option<&Path>) -> Result<Option<T>> {
    let Some(path) = path else { return Ok(None) };
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not a result", path.display()))
}

fn group<'a>(result: Option<&'a StreamResult>, name: &str) -> Option<&'a Group> {
    result?.groups.iter().find(|g| g.name == name)
}

fn ratio(ours: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.2}", ours / reference)
    } else {
        "–".to_owned()
    }
}

fn kib(value: f64) -> String {
    format!("{value:.1} KiB")
}

/// Server memory per connection while streaming: connected − before, over the connections.
fn streaming_kib(result: &StreamResult) -> f64 {
    result
        .server_rss_connected_kib
        .saturating_sub(result.server_rss_before_kib) as f64
        / result.connections.max(1) as f64
}

/// A lagging stream gets a `resync` (and then refetches), so its loss is never silent.
fn resyncs(group: &Group) -> String {
    match group.resyncs {
        0 => String::new(),
        n => format!(" ({} × `resync`)", thousands(n)),
    }
}

fn who(group: &Group) -> String {
    match group.name.as_str() {
        "per-topic" => format!("{} per-topic", thousands(group.clients as u64)),
        _ => format!("{} `#`", thousands(group.clients as u64)),
    }
}

fn mode(group: &Group) -> String {
    if group.conflate_ms > 0 {
        format!("conflated {} ms", group.conflate_ms)
    } else {
        "every message".to_owned()
    }
}

pub fn write(args: &ReportArgs) -> Result<()> {
    let meta = read_meta(&args.meta)?;
    let get = |key: &str| meta.get(key).cloned().unwrap_or_else(|| "?".to_owned());
    // A count from the meta file, with thousands separators.
    let count = |key: &str| get(key).parse().map(thousands).unwrap_or_else(|_| get(key));
    let first: Option<StreamResult> = load(args.reference.as_deref())?;
    let again: Option<StreamResult> = load(args.reference_again.as_deref())?;
    let (reference, reference_note) = pick_reference(first, again);
    let plain: Option<StreamResult> = load(args.plain.as_deref())?;
    let full: Option<StreamResult> = load(args.full.as_deref())?;
    let conflated: Option<StreamResult> = load(args.conflated.as_deref())?;
    let reference_idle: Option<IdleResult> = load(args.reference_idle.as_deref())?;
    let idle: Option<IdleResult> = load(args.idle.as_deref())?;
    let steps = [
        ("(a)", "MQTT over WebSocket (reference)", reference.as_ref()),
        ("(a′)", "plain MQTT (the broker's floor)", plain.as_ref()),
        ("(b)", "Lookout SSE", full.as_ref()),
        ("(c)", "Lookout SSE", conflated.as_ref()),
    ];

    let mut out = String::new();
    let _ = write!(
        out,
        "# Live stream benchmark\n\n\
         Generated by `bench/live/run.sh` on {date} ({nproc} cores). Everything below was \
         measured in that one run, one step after another under the same load; the machine was \
         shared with other builds and tests, so compare the rows with each other rather than \
         with other runs.\n\n\
         ## Streaming: {rate} msg/s over 1,000 topics for {secs} s\n\n\
         Each step: {topic_clients} clients each following 3–5 topics of its own (about 20 msg/s \
         each) and {all_clients} clients following everything (`#`, {rate} msg/s each), all \
         connected at once; (a) straight to Mosquitto's websocket listener, (a′) to its plain \
         MQTT listener, (b) and (c) to Lookout's `GET /api/live` as logged-in viewers. Latency \
         is publish → receive. \
         In conflated mode a newer value replaces older ones by design, so for those rows \
         *latency* is that of the values delivered and *freshness* how old the newest value the \
         client held could get (see *Method*); *lost* is then a value never delivered nor \
         superseded.\n\n\
         | | path | clients | mode | messages due | delivered | lost | p50 | p99 | max | freshness p99 | server memory per connection | server CPU |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        date = get("date"),
        nproc = get("nproc"),
        rate = count("rate"),
        secs = get("secs"),
        topic_clients = count("topic_clients"),
        all_clients = count("all_clients"),
    );
    for (tag, path, result) in steps {
        let Some(result) = result else {
            let _ = writeln!(
                out,
                "| {tag} | {path} | not measured (see the run's log) | | | | | | | | | | |"
            );
            continue;
        };
        for group in &result.groups {
            let _ = writeln!(
                out,
                "| {tag} | {path} | {} | {} | {} | {} | **{}** | {} | **{}** | {} | {} | {} | {} |",
                who(group),
                mode(group),
                thousands(group.expected),
                thousands(group.events),
                thousands(group.lost()),
                ms(group.latency.p50_ms),
                ms(group.latency.p99_ms),
                ms(group.latency.max_ms),
                ms(group.freshness.p99_ms),
                kib(streaming_kib(result)),
                pct(Some(result.server_cpu_pct)),
            );
        }
    }

    out.push_str("\n## Against the goals and the reference\n\n");
    out.push_str(&reference_note);
    let full_met = |group: Option<&Group>| {
        group.map(|g| g.latency.p99_ms <= GOAL_P99_MS && g.lost() == 0 && g.broken == 0)
    };
    for name in ["per-topic", "everything"] {
        let Some(ours) = group(full.as_ref(), name) else {
            continue;
        };
        let against = |what: &str, theirs: Option<&Group>| {
            theirs.map_or(String::new(), |t| {
                let (slow, _) = t.slow_seconds(GOAL_P99_MS);
                format!(
                    " Against {what}: p50 ×{}, p99 ×{} (it had p50 {}, p99 {}, {} lost; p99 \
                     over {} in {slow} of {} seconds).",
                    ratio(ours.latency.p50_ms, t.latency.p50_ms),
                    ratio(ours.latency.p99_ms, t.latency.p99_ms),
                    ms(t.latency.p50_ms),
                    ms(t.latency.p99_ms),
                    thousands(t.lost()),
                    ms(GOAL_P99_MS),
                    t.p99_by_second_ms.len(),
                )
            })
        };
        let verdict = if full_met(Some(ours)) == Some(true) {
            "met"
        } else {
            "not met"
        };
        let (slow, worst) = ours.slow_seconds(GOAL_P99_MS);
        let _ = writeln!(
            out,
            "- **{} clients, every message:** Lookout p50 {}, p99 {}, {} lost{} (goal p99 ≤ {} \
             with nothing lost: **{verdict}**); p99 over {} in {slow} of {} seconds (the worst: \
             {}).{}{}",
            who(ours),
            ms(ours.latency.p50_ms),
            ms(ours.latency.p99_ms),
            thousands(ours.lost()),
            resyncs(ours),
            ms(GOAL_P99_MS),
            ms(GOAL_P99_MS),
            ours.p99_by_second_ms.len(),
            ms(worst),
            against("MQTT over WebSocket", group(reference.as_ref(), name)),
            against("plain MQTT", group(plain.as_ref(), name)),
        );
    }
    if let Some(group) = group(conflated.as_ref(), "everything") {
        let secs = conflated.as_ref().map_or(1.0, |r| r.secs).max(1.0);
        let _ = writeln!(
            out,
            "- **Conflated `#` clients ({} ms):** {} events/s each instead of {}; the newest value \
             of a topic was at most {} old for 99 % of messages ({} at worst), {} lost{}.",
            group.conflate_ms,
            thousands((group.events as f64 / group.clients.max(1) as f64 / secs).round() as u64),
            count("rate"),
            ms(group.freshness.p99_ms),
            ms(group.freshness.max_ms),
            thousands(group.lost()),
            resyncs(group),
        );
    }
    for (tag, path, result) in steps {
        let Some(r) = result else { continue };
        if r.publish_rate < 0.95 * r.offered_rate {
            let _ = writeln!(
                out,
                "- **{tag} {path}:** the broker took only {} msg/s of the {} offered (its CPU: \
                 {}): the load generator was held back, and the latency includes that backlog.",
                thousands(r.publish_rate.round() as u64),
                thousands(r.offered_rate.round() as u64),
                pct(Some(r.broker_cpu_pct)),
            );
        }
    }
    if let (Some(ours), Some(theirs)) = (&full, &reference) {
        let _ = writeln!(
            out,
            "- **Server memory per streaming connection:** Lookout {} against Mosquitto's {} \
             (×{}).",
            kib(streaming_kib(ours)),
            kib(streaming_kib(theirs)),
            ratio(streaming_kib(ours), streaming_kib(theirs)),
        );
    }
    if let Some(idle) = &idle {
        let per = idle.per_connection_kib();
        let _ = writeln!(
            out,
            "- **{} idle SSE connections:** {} each (goal ≤ {}: **{}**){}.",
            thousands(idle.clients as u64),
            kib(per),
            kib(GOAL_IDLE_KIB),
            if per <= GOAL_IDLE_KIB && idle.failed == 0 && idle.alive_at_end == idle.clients {
                "met"
            } else {
                "not met"
            },
            reference_idle.as_ref().map_or(String::new(), |r| format!(
                "; Mosquitto's WebSocket connections {} each (×{})",
                kib(r.per_connection_kib()),
                ratio(per, r.per_connection_kib())
            )),
        );
    }

    out.push_str(
        "\n## Idle connections\n\n\
         Connections that only wait (nothing is published meanwhile), held open and then \
         closed. Memory per connection is (RSS held − RSS before) / connections.",
    );
    if get("idle_asked") != get("idle_clients") {
        let _ = write!(
            out,
            " The step was to hold {}; but each side needs a file per connection, this machine \
             limits open files to {} per process, and the run could not raise that (it takes \
             root with `CAP_SYS_RESOURCE`), so it held {}.",
            count("idle_asked"),
            count("nofile"),
            count("idle_clients"),
        );
    }
    out.push_str(
        "\n\n\
         | server | connections | opened | failed | still open after the hold | RSS before | RSS held | RSS after closing | per connection |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, result) in [
        ("Mosquitto, MQTT over WebSocket", reference_idle.as_ref()),
        ("Lookout, SSE", idle.as_ref()),
    ] {
        match result {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} | {} | {} | {} | {} | {} | **{}** |",
                    thousands(r.clients as u64),
                    thousands(r.connected as u64),
                    thousands(r.failed as u64),
                    thousands(r.alive_at_end as u64),
                    mib(r.server_rss_before_kib),
                    mib(r.server_rss_held_kib),
                    mib(r.server_rss_closed_kib),
                    kib(r.per_connection_kib()),
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {name} | not measured (see the run's log) | | | | | | | |"
                );
            }
        }
    }
    for r in [reference_idle.as_ref(), idle.as_ref()]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "\n{}: opened in {:.1} s, held {:.0} s{}{}.",
            r.label,
            r.connect_secs,
            r.hold_secs,
            if r.comments > 0 {
                format!(", {} keep-alive comments received", thousands(r.comments))
            } else {
                String::new()
            },
            r.first_error
                .as_ref()
                .map(|e| format!("; first error: `{e}`"))
                .unwrap_or_default(),
        );
    }

    out.push_str(
        "\n## Every counter\n\n\
         | | clients | due | received | events | repeats | not followed | from elsewhere | missed | never fresh | resyncs | broken | latency p50 / p99 / max | freshness p50 / p99 / max |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (tag, _, result) in steps {
        for group in result.iter().flat_map(|r| &r.groups) {
            let _ = writeln!(
                out,
                "| {tag} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} / {} |",
                who(group),
                thousands(group.expected),
                thousands(group.received),
                thousands(group.events),
                thousands(group.duplicates),
                thousands(group.unexpected),
                thousands(group.foreign),
                thousands(group.missed),
                thousands(group.never_fresh),
                thousands(group.resyncs),
                group.broken,
                ms(group.latency.p50_ms),
                ms(group.latency.p99_ms),
                ms(group.latency.max_ms),
                ms(group.freshness.p50_ms),
                ms(group.freshness.p99_ms),
                ms(group.freshness.max_ms),
            );
        }
    }
    out.push_str(
        "\n| | published | broker acked | publish rate | connect time | drain after the last publish | server RSS before / connected / peak | server CPU | broker CPU | PostgreSQL CPU | live-bench CPU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (tag, _, result) in steps {
        if let Some(r) = result {
            let _ = writeln!(
                out,
                "| {tag} | {} | {} | {}/s | {:.1} s | {:.1} s | {} / {} / {} | {} | {} | {} | {} |",
                thousands(r.published),
                thousands(r.acked),
                thousands(r.publish_rate.round() as u64),
                r.connect_secs,
                r.drain_secs,
                mib(r.server_rss_before_kib),
                mib(r.server_rss_connected_kib),
                mib(r.server_rss_peak_kib),
                pct(Some(r.server_cpu_pct)),
                pct(Some(r.broker_cpu_pct)),
                pct(r.postgres_cpu_pct),
                pct(Some(r.bench_cpu_pct)),
            );
        }
    }
    for (tag, _, result) in steps {
        for group in result.iter().flat_map(|r| &r.groups) {
            if let Some(error) = &group.first_error {
                let _ = writeln!(out, "\n{tag} {}: first error: `{error}`", who(group));
            }
        }
    }

    let _ = write!(
        out,
        "\n## Method\n\n\
         - **Load.** The ingest benchmark's load generator (`bench/common`, one connection, QoS 1, \
         at most 1,000 publishes awaiting PubAck) publishes {rate} msg/s for {secs} s, \
         round-robin over 1,000 topics `bench/dev-0000` … `bench/dev-0999`, JSON payloads of \
         about 200 bytes that start with a sequence number and the publish time \
         (`{{\"seq\":…,\"sent_us\":…,…}}`). It runs on a thread of its own in the `live-bench` \
         process, which also holds every client.\n\
         - **Clients.** One tokio task per connection, minimal HTTP/1.1 and WebSocket over a \
         `TcpStream` (no HTTP library), spread over source addresses 127.0.0.1 … 127.0.0.{ips}. \
         Per-topic client *i* follows topics *i*, *i*+211, … (3, 4 or 5 of them, by *i* mod 3), \
         so each topic has about four followers; the `#` clients follow everything. \
         The receive time is taken when a read returns, before parsing what it brought.\n\
         - **(a) MQTT over WebSocket** is what a browser dashboard would do without Lookout: \
         each client connects to the broker's websocket listener (`/mqtt`, subprotocol `mqtt`, \
         MQTT 3.1.1, clean session) and subscribes with its filters at QoS 0. Lookout is not \
         running meanwhile. **(a′)** is the same over the broker's plain MQTT listener, to tell \
         the broker's websocket listener apart from the broker.\n\
         - **(b), (c) Lookout** (commit `{lookout_rev}`, release build, default settings but \
         the connection limits, raised to hold every connection of the run: {limits}; \
         subscribed to `bench/#`): the clients log in as {users} viewers through the login form \
         (one session each, shared by the connections) and open \
         `GET /api/live?filter=…` (`&conflate_ms={conflate}` for the `#` clients in (c)). \
         Lookout also stores every message in PostgreSQL meanwhile, as always. It is restarted \
         before each step, so each starts from the same memory.\n\
         - **Readiness.** Before measuring, a probe goes to every topic until every client has \
         received one (so every connection is subscribed end to end), then {warmup} s of the \
         same load warm up; neither is counted.\n\
         - **Loss.** Each client knows which messages it should get: every message the broker \
         acknowledged on a topic it follows. *Missed* = due and never received; *lost* is that \
         in full mode and *never fresh* in conflated mode. After the last publish the driver \
         waits until every full-mode client has everything, or nothing arrived for 3 s.\n\
         - **Latency** = receive time − `sent_us` from the payload (one clock: same machine), per \
         message received. **Freshness** = for every message due, the first time the client \
         held that message or a newer one of its topic − that message's publish time.\n\
         - **Memory** is the server's VmRSS (`/proc/<pid>/status`): Lookout's for (b), (c) and \
         the SSE idle step, Mosquitto's for (a) and its idle step. *Per streaming connection* = \
         (RSS with the clients connected, before publishing − RSS before connecting) / clients; \
         peak is sampled every 100 ms while publishing. Idle: {idle_clients} connections \
         ({users} sessions), held {hold} s, nothing published.\n\
         - **CPU** is utime + stime over first publish → last arrival, in % of one core \
         (the machine has {nproc}); *PostgreSQL* is the postmaster and all its children; \
         *live-bench* is the clients and the publisher together.\n\
         - **Broker.** Mosquitto {mosquitto} from Debian's source package, rebuilt with \
         `WITH_WEBSOCKETS=yes` against libwebsockets {lws} also built from Debian's source with \
         `LWS_WITH_EXTERNAL_POLL` (Debian's binary packages are built without websockets, and \
         their libwebsockets without external poll, with which Mosquitto would serve websocket \
         clients only between its 100 ms waits): `bench/live/build-mosquitto.sh`. Even so, \
         Mosquitto 2.0 has libwebsockets poll all its websocket connections on every pass of \
         its single-threaded loop (its source calls websocket clients \"second class \
         citizens\"), so 1,000 of them cost it far more than plain MQTT clients: (a′) shows the \
         broker without that. A private broker with a plain listener (the publisher, Lookout, \
         (a′)) and a websocket listener ((a)), `config/mosquitto.conf`'s queue settings, \
         started afresh for each of its steps.\n\
         - **PostgreSQL** {pg}: a private cluster for the run.\n\n\
         ## Versions\n\n\
         - Machine: `{uname}`, {nproc} cores, {mem}; open files limit {nofile}\n\
         - Lookout {lookout_rev}; live-bench built with {rustc}\n\
         - Lookout's logs (`RUST_LOG=info`, kept in `{run_dir}`): {lookout_errors} lines \
         mentioning an error\n\n\
         ## Reproduce\n\n\
         ```sh\n\
         bench/live/run.sh\n\
         ```\n\n\
         It raises the open files limit for the idle step where it may (root with \
         `CAP_SYS_RESOURCE`), and otherwise holds as many connections as the limit allows. It \
         builds the broker once into `/var/cache/lookout-bench/mosquitto-ws`, `live-bench`, and \
         Lookout's release binary from the commit, and rewrites this file. `BENCH_SECS`, \
         `BENCH_RATE`, `BENCH_IDLE_CLIENTS` and `BENCH_CONFLATE_MS` change the load.\n",
        rate = count("rate"),
        secs = get("secs"),
        ips = get("source_ips"),
        lookout_rev = get("lookout_rev"),
        limits = get("lookout_limits"),
        users = get("users"),
        conflate = get("conflate_ms"),
        idle_clients = count("idle_clients"),
        hold = get("hold_secs"),
        nproc = get("nproc"),
        mosquitto = get("mosquitto_version"),
        lws = get("libwebsockets_version"),
        pg = get("postgres_version"),
        uname = get("uname"),
        mem = get("memory"),
        nofile = count("nofile"),
        rustc = get("rustc"),
        lookout_errors = get("lookout_log_errors"),
        run_dir = get("run_dir"),
        warmup = get("warmup_secs"),
    );
    std::fs::write(&args.out, out).with_context(|| format!("cannot write {}", args.out.display()))
}

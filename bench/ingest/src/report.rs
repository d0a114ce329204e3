//! The Markdown report: the summary table, ratios, every step, and how it was measured.

use crate::ladder::{Step, SystemResult};
use anyhow::{Context, Result};
use bench_common::markdown::{mib, ms, pct, read_meta, thousands};
use std::fmt::Write;
use std::path::Path;

fn load(path: &Path) -> Result<SystemResult> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a result", path.display()))
}

fn rate(value: f64) -> String {
    if value <= 0.0 {
        "flat out".to_owned()
    } else {
        thousands(value.round() as u64)
    }
}

fn sustained(result: &SystemResult) -> Option<&Step> {
    result.sustained.map(|i| &result.steps[i])
}

fn summary_row(out: &mut String, name: &str, result: &SystemResult) {
    if let Some(step) = &result.exited_during {
        let _ = writeln!(
            out,
            "| {name} | – | – | **the process exited during step {step}; no result** | | | | | | | | |"
        );
        return;
    }
    match sustained(result) {
        Some(step) => {
            let stored = if result.ceiling_not_reached {
                format!("≥ {}", rate(step.stored_rate))
            } else {
                rate(step.stored_rate)
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | **{stored}** | {} | {} | {} | {} | {:.0} % | {} | {} | {} |",
                rate(step.offered),
                rate(step.publish_rate),
                step.lost,
                step.duplicates,
                ms(step.p50_ms),
                ms(step.p99_ms),
                step.cpu_pct,
                mib(result.peak_rss_kib),
                pct(step.pg_cpu_pct),
                pct(step.broker_cpu_pct),
            );
        }
        None => {
            let first = result.steps.first();
            let _ = writeln!(
                out,
                "| {name} | {} | – | **below the lowest step** | – | – | – | – | – | {} | – | – |",
                first.map_or("–".to_owned(), |s| rate(s.offered)),
                mib(result.peak_rss_kib),
            );
        }
    }
}

fn step_table(out: &mut String, result: &SystemResult) {
    out.push_str(
        "| step | messages | published/s | stored/s | lost | dup | p50 | p99 | max | CPU | RSS peak | PostgreSQL CPU | broker CPU | publisher CPU | verdict |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let steps = std::iter::once(&result.warmup)
        .chain(result.steps.iter())
        .chain(result.burst.iter());
    for step in steps {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {} | {} | {} | {:.0} % | {} |",
            step.label,
            rate(step.messages as f64),
            rate(step.publish_rate),
            rate(step.stored_rate),
            step.lost,
            step.duplicates,
            ms(step.p50_ms),
            ms(step.p99_ms),
            ms(step.max_ms),
            step.cpu_pct,
            mib(step.rss_peak_kib),
            pct(step.pg_cpu_pct),
            pct(step.broker_cpu_pct),
            step.publisher_cpu_pct,
            if step.offered > 0.0 { step.verdict.as_str() } else { "(throughput only)" },
        );
    }
}

fn ratio(a: Option<&Step>, b: Option<&Step>) -> Option<f64> {
    Some(a?.stored_rate / b?.stored_rate)
}

fn sustained_rate(result: &SystemResult) -> f64 {
    sustained(result).map_or(0.0, |step| step.stored_rate)
}

/// Which ceiling run is the reference: the only one; the higher of two (they agreed, or a third
/// would have been run); the median of three or more.
fn reference(ceilings: &[SystemResult]) -> usize {
    let mut order: Vec<usize> = (0..ceilings.len()).collect();
    order.sort_by(|&a, &b| sustained_rate(&ceilings[a]).total_cmp(&sustained_rate(&ceilings[b])));
    match order.len() {
        0 | 1 => 0,
        2 => order[1],
        n => order[n / 2],
    }
}

/// What each ceiling run is called in the report, in the order run.sh runs them.
fn ceiling_name(index: usize) -> &'static str {
    match index {
        0 => "(a) broker ceiling",
        1 => "(a) broker ceiling, again after Lookout",
        _ => "(a) broker ceiling, a third time",
    }
}

/// The sentence saying how often the reference ran and which run the ratios use.
fn ceiling_runs(ceilings: &[SystemResult], used: usize, spread: &str) -> String {
    let rates: Vec<String> = ceilings
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} msg/s ({})", rate(sustained_rate(c)), ceiling_name(i)))
        .collect();
    let how = match ceilings.len() {
        1 => "measured once".to_owned(),
        2 => format!(
            "measured twice, just before and just after Lookout, within {spread} of each other; \
             the ratios use the higher"
        ),
        n => format!(
            "measured {n} times: the first two differed by more than {spread}, so the reference \
             looked disturbed and was run again; the ratios use the median"
        ),
    };
    format!(
        "- The broker ceiling (the reference) was {how}: {} — {} is the one used.\n",
        rates.join(", "),
        rate(sustained_rate(&ceilings[used]))
    )
}

pub fn write(
    meta: &Path,
    ceilings: &[std::path::PathBuf],
    nodered: Option<&Path>,
    lookout: &Path,
    variant: Option<&Path>,
    out_path: &Path,
) -> Result<()> {
    let meta = read_meta(meta)?;
    let get = |key: &str| meta.get(key).cloned().unwrap_or_else(|| "?".to_owned());
    let ceilings = ceilings
        .iter()
        .map(|path| load(path))
        .collect::<Result<Vec<_>>>()?;
    let used = reference(&ceilings);
    let ceiling = &ceilings[used];
    let stream = get("lookout_stream");
    let streaming = stream != "none" && stream != "?";
    let lookout_name = if streaming {
        "(c) | Lookout, a live stream open"
    } else {
        "(c) | Lookout"
    };
    let nodered = nodered.map(load).transpose()?;
    let lookout = load(lookout)?;
    let variant = variant.map(load).transpose()?;
    let variant_name = format!("Lookout with `{}`", get("lookout_variant"));

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Ingest benchmark\n\n\
         Generated by `bench/ingest/run.sh` on {} ({} cores). Everything below was measured in that \
         one run, one system after another at the same offered rates; the machine was shared with \
         other builds and tests, so compare the rows with each other rather than with other runs.\n",
        get("date"),
        get("nproc"),
    );

    out.push_str(
        "## Sustained ingest\n\n\
         The highest offered rate each system kept up with (see *Method*), and what it did there.\n\n\
         | | system | offered msg/s | achieved publish msg/s | stored msg/s sustained | lost | duplicates | p50 commit − publish | p99 commit − publish | CPU (process) | peak RSS (process) | PostgreSQL CPU | broker CPU |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    summary_row(
        &mut out,
        "(a) | broker ceiling: discarding subscriber",
        ceiling,
    );
    match &nodered {
        Some(result) => summary_row(&mut out, "(b) | Node-RED 4 + pg (pool of 4)", result),
        None => {
            let _ = writeln!(
                out,
                "| (b) | Node-RED | not measured: {} |||||||||||",
                get("nodered_failure")
            );
        }
    }
    summary_row(&mut out, lookout_name, &lookout);
    if let Some(result) = &variant {
        summary_row(&mut out, &format!("(c′) | {variant_name}"), result);
    }

    let a = sustained(ceiling);
    let b = nodered.as_ref().and_then(sustained);
    let c = sustained(&lookout);
    out.push_str("\n## Ratios\n\n");
    match ratio(c, a) {
        Some(r) => {
            let _ = writeln!(
                out,
                "- **Lookout / broker ceiling = {r:.2}** (goal ≥ 0.85 with zero loss{}: {}).",
                if streaming { ", a live stream open" } else { "" },
                if r >= 0.85 && c.is_some_and(|s| s.lost == 0) {
                    "met"
                } else {
                    "not met"
                }
            );
        }
        None => out.push_str(
            "- Lookout / broker ceiling: not available (a system kept up with no step).\n",
        ),
    }
    match ratio(c, b) {
        Some(r) => {
            let _ = writeln!(out, "- **Lookout / Node-RED = {r:.2}**.");
        }
        None => out.push_str("- Lookout / Node-RED: not available.\n"),
    }
    if let Some(result) = &variant {
        if let Some(r) = ratio(sustained(result), a) {
            let _ = writeln!(
                out,
                "- {variant_name} / broker ceiling = {r:.2} (not the default configuration; \
                 an extra run to show where the default's limit comes from)."
            );
        }
        if let Some(r) = ratio(sustained(result), c) {
            let _ = writeln!(
                out,
                "- **{variant_name} / Lookout = {r:.2}**: what the difference costs (or gains) \
                 in sustained stored messages per second, measured in this one run."
            );
        }
    }
    out.push_str(&ceiling_runs(&ceilings, used, &get("ceiling_spread_pct")));
    if ceiling.ceiling_not_reached || lookout.ceiling_not_reached {
        out.push_str(
            "- A system that kept up with every offered rate was not pushed to its limit; its \
             figure is a lower bound (marked ≥).\n",
        );
    }

    out.push_str(
        "\n## Flat out\n\n\
         After the ladder, each system got one burst published as fast as the broker acknowledged \
         it (window of in-flight publishes, no pacing): 200,000 messages, or about 20 s of the \
         best rate the system stored in the ladder if that is fewer. Stored msg/s is distinct messages over the \
         time from the first publish to the last commit; for a system slower than the publisher it \
         is its drain rate, and the latency is mostly time spent queued.\n\n\
         | | messages | published/s | stored/s | lost | dup | p50 | p99 | CPU | RSS peak |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let variant_label = format!("(c′) {variant_name}");
    let systems: Vec<(&str, &SystemResult)> = std::iter::once(Some((ceiling_name(0), &ceilings[0])))
        .chain([
            nodered.as_ref().map(|r| ("(b) Node-RED", r)),
            Some(("(c) Lookout", &lookout)),
            variant.as_ref().map(|r| (variant_label.as_str(), r)),
        ])
        .chain(
            ceilings
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, c)| Some((ceiling_name(i), c))),
        )
        .flatten()
        .collect();
    for (name, result) in &systems {
        if let Some(step) = &result.burst {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {} |",
                rate(step.messages as f64),
                rate(step.publish_rate),
                rate(step.stored_rate),
                step.lost,
                step.duplicates,
                ms(step.p50_ms),
                ms(step.p99_ms),
                step.cpu_pct,
                mib(step.rss_peak_kib),
            );
        }
    }

    out.push_str("\n## Every step\n");
    for (name, result) in &systems {
        let _ = writeln!(out, "\n### {name}\n");
        step_table(&mut out, result);
    }

    let _ = write!(
        out,
        "\n## Method\n\n\
         - **Load.** `ingest-bench` publishes QoS 1 JSON payloads of {payload} bytes \
         (`{{\"seq\":…,\"sent_us\":…,\"device\":…,\"temperature\":…,\"humidity\":…,\"pad\":…}}`) \
         round-robin over 1,000 topics `bench/dev-0000` … `bench/dev-0999`, from one rumqttc \
         connection (clean session) with at most {window} publishes awaiting the broker's PubAck. \
         It paces to the offered rate; *achieved publish* is PubAck'd messages per second from \
         the first send to the last PubAck. A message counts as published once the broker \
         acknowledged it.\n\
         - **Steps.** Offered rates {rates} msg/s, {step_secs} s each, climbed until a step fails \
         to keep up, then {refine} bisections between the last good and the first bad rate \
         (rounded to two significant digits). Before the ladder: probes until the system stores one (it is \
         subscribed), then a warm-up of one message per topic. After each step the driver waits \
         until the system has stored as many messages as were published, or nothing arrives for \
         10 s.\n\
         - **Keeps up** means: zero lost, the broker took ≥ 95 % of the offered rate, the system \
         stored ≥ 95 % of the publish rate (distinct messages over first publish → last commit, \
         so a backlog left at the end of the step counts against it), and p99 latency ≤ 1 s. \
         *Stored msg/s sustained* is that stored rate at the highest offered rate that kept up.\n\
         - **Loss and duplicates** are counted by sequence number: lost = PubAck'd by the broker \
         but never stored (never received, for (a)); a duplicate is a second copy of a sequence \
         number.\n\
         - **Latency** is commit time − publish time (`sent_us` in the payload, same clock). For \
         (b) and (c) the commit time is PostgreSQL's commit timestamp of the row's transaction \
         (`track_commit_timestamp = on`, read with `pg_xact_commit_timestamp(xmin)` after the \
         step, so no polling disturbs the run and the resolution is 1 µs). It is taken just before \
         the commit's WAL flush, so visibility comes that flush later (under a millisecond to a \
         few ms here). For (a) it is the time the subscriber parsed the message.\n\
         - **CPU** is utime + stime from `/proc/<pid>/stat` over the step (publish start → last \
         arrival), in % of one core (the machine has {nproc}). *Process* is only the system \
         under test: the `ingest-bench discard` process, the `node` process running Node-RED, or \
         the `lookout` process. *PostgreSQL CPU* is the postmaster and all its children (backends, \
         WAL writer, checkpointer …) minus the driver's own connection. *Broker CPU* is the \
         private Mosquitto. *Peak RSS* is VmHWM of the process under test at the end of its run; \
         per step, the highest VmRSS sampled every 100 ms.\n\
         - **PostgreSQL.** A private cluster of the machine's PostgreSQL {pg} started for the run \
         (port {pg_port}), with the shared cluster's settings (`shared_buffers` 128MB, \
         `max_wal_size` 1GB, `fsync` and `synchronous_commit` on, `autovacuum` off) plus \
         `track_commit_timestamp = on`, which the shared cluster does not have and cannot get \
         without a restart. Each system stores into a fresh database whose schema Lookout's own \
         migrations created (Lookout started once against it for (b)).\n\
         - **Broker.** A private Mosquitto {mosquitto} on port {mqtt_port} with \
         `config/mosquitto.conf`'s queue settings (`max_queued_messages 0`, `max_queued_bytes 0`, \
         `max_inflight_messages 0`) and `persistence false`.\n\
         - **(a)** subscribes to `bench/#` at QoS 1 with a clean session, parses every payload \
         with serde_json and discards it; rumqttc acknowledges on receipt.\n\
         - **(b)** Node-RED {nodered} (`node` {node}, `pg` {pg_module}) runs \
         `bench/ingest/nodered/flows.json`: an `mqtt in` node (QoS 1, clean session, payload as a \
         Buffer) wired to a function node that, through a `pg` Pool of 4 connections, runs one \
         statement per message: upsert the topic, insert the message (payload as bytea, kind \
         `json`, `received_at = now()`) and upsert the topic's `latest` row with \
         `message_count + 1`. Node-RED's MQTT client acknowledges on receipt, before storing: a message \
         in its queue when Node-RED stops is lost, and its backlog lives in Node-RED's memory \
         rather than at the broker.\n\
         - **(c)** Lookout (commit `{lookout_rev}`, release build of the committed tree) as \
         configured by default: persistent \
         session, subscription at QoS 2 max (messages arrive at QoS 1), a bounded channel of \
         10,000 and a 64 MiB byte budget, batches of up to 10,000 messages or 20 ms in one \
         transaction (messages, and `latest` with each topic's count), two batches committing at \
         once, acknowledged to the broker after the commit. (c′), when present, is the same \
         binary on a fresh database with the settings named in its row.\n\
         - **Live stream.** Ingest hands every message to the live hub before the writer, whether \
         or not anyone watches (the hub keeps the last messages for clients that resume). During \
         (c), a viewer signed in through the login form kept a stream open and read it with curl: \
         {lookout_stream}; during (c′): {variant_stream}. The conflated stream (`conflate_ms=250`) \
         is the overview page's: every message is matched, checked against the access rules and \
         queued for the connection, which sends the newest of each topic four times a second.\n\
         - **Order.** (b) Node-RED, then (a) the broker ceiling, (c) Lookout and (a) again, so \
         that the reference brackets Lookout; two ceiling runs more than {ceiling_spread} apart \
         make a third at once (see *Ratios*), and (c′), when present, comes last. Each run's \
         steps are listed below.\n\
         - **Why Node-RED is far below the ~8,000 msg/s known for this flow.** It commits every \
         message on its own (one autocommit statement per message on 4 connections), and each \
         commit waits for its WAL flush: during its run PostgreSQL did {nodered_wal} \
         (`pg_stat_wal` with `track_wal_io_timing`), during Lookout's {lookout_wal}. Neither \
         Node-RED nor PostgreSQL is CPU-bound meanwhile (see CPU): the flow is bound by 4 \
         connections each waiting for one round trip and one flush per message. Flushes on this \
         shared virtual disk vary with other people's builds (`pg_test_fsync` gave from about \
         300 to 8,000 `fdatasync` per second at different moments of the same day), so this row \
         moves more than the others between runs. Lookout commits once per batch.\n\
         - The publisher and this driver run on the same machine and take CPU too (*publisher \
         CPU* in the step tables is the driver process, which publishes and, for (a), does the \
         bookkeeping).\n\n\
         ## Versions\n\n\
         - Machine: `{uname}`, {nproc} cores, {mem}\n\
         - PostgreSQL {pg}, Mosquitto {mosquitto}, Node.js {node}, Node-RED {nodered}, pg {pg_module}\n\
         - Lookout {lookout_rev}; ingest-bench built with {rustc}\n\
         - Lookout's log during its run (`RUST_LOG=info`): {lookout_errors} lines mentioning an \
         error\n\
         - Lookout's `/metrics` at the end of its run (whole run, warm-up and probes included): \
         (c) {lookout_batches}{variant_batches}\n\n\
         ## Reproduce\n\n\
         ```sh\n\
         bench/ingest/run.sh\n\
         ```\n\n\
         It needs the machine's PostgreSQL binaries, Mosquitto, Node.js and npm; it builds \
         `ingest-bench` and Lookout's release binary from the commit (`git archive`, its own \
         target directory), installs Node-RED into \
         `/var/tmp/lookout-bench-nodered`, and rewrites this file. `BENCH_RATES`, `BENCH_STEP_SECS`, \
         `BENCH_REFINE` and `BENCH_BURST` change the ladder.\n",
        payload = get("payload_bytes"),
        window = get("window"),
        rates = get("rates"),
        step_secs = get("step_secs"),
        refine = get("refine"),
        nproc = get("nproc"),
        pg = get("postgres_version"),
        pg_port = get("pg_port"),
        mosquitto = get("mosquitto_version"),
        mqtt_port = get("mqtt_port"),
        nodered = get("nodered_version"),
        node = get("node_version"),
        pg_module = get("pg_module_version"),
        lookout_rev = get("lookout_rev"),
        uname = get("uname"),
        mem = get("memory"),
        rustc = get("rustc"),
        lookout_errors = get("lookout_log_errors"),
        lookout_batches = get("lookout_batches"),
        nodered_wal = get("nodered_wal"),
        lookout_wal = get("lookout_wal"),
        variant_batches = match get("variant_batches").as_str() {
            "" | "?" => String::new(),
            batches => format!("; (c′) {batches}"),
        },
        lookout_stream = stream,
        variant_stream = match get("variant_stream").as_str() {
            "" | "?" => "no run".to_owned(),
            text => text.to_owned(),
        },
        ceiling_spread = get("ceiling_spread_pct"),
    );
    std::fs::write(out_path, out).with_context(|| format!("cannot write {}", out_path.display()))
}

#!/usr/bin/env bash
# The alerts benchmark, start to finish: a private Mosquitto and PostgreSQL, then Lookout three
# times at the same load, each a fresh process on a fresh database: (r) without alert rules,
# (m) with 10,000 threshold rules (one per topic, made through the admin form) telling a webhook
# channel that points at the benchmark's receiver, and (r′) without rules again, so that the
# reference brackets the rules; bench/results/alerts.md from what they did. See that file's
# Method section.
#
# Knobs: BENCH_TOPICS (topics, and rules in (m), default 10000), BENCH_RATE (msg/s of the paced
# step, 20000), BENCH_SECS (its length, 60), BENCH_TRIGGERS (triggering messages during it, 500),
# BENCH_BURST (messages of the flat-out step, 600000; 0: none), BENCH_CONNECTIONS (form posts in
# flight while making the rules, 4), BENCH_REFERENCE_AGAIN (0: no (r′)), BENCH_RESULTS (the
# report's path), LOOKOUT_REV (the commit to build, default HEAD), LOOKOUT_BIN (a lookout binary
# to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-alerts-run}
topics=${BENCH_TOPICS:-10000}
rate=${BENCH_RATE:-20000}
secs=${BENCH_SECS:-60}
triggers=${BENCH_TRIGGERS:-500}
burst=${BENCH_BURST:-600000}
connections=${BENCH_CONNECTIONS:-4}
reference_again=${BENCH_REFERENCE_AGAIN:-1}
window=1000
results=${BENCH_RESULTS:-$repo/bench/results/alerts.md}

# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
bench=$(build_bench "$here" alerts-bench)
build_lookout

rm -rf "$run"
mkdir -p "$run"

# --- PostgreSQL and Mosquitto, private to the run, set up as for the ingest benchmark ----------
# No checkpoint comes during a run (a checkpoint's writes, and the full-page images in the WAL
# after it, slowed whichever run it fell in: with 1 GB between checkpoints that was (m), the
# second run, again and again); each run starts right after one instead (one_run).
start_postgres -c fsync=on -c synchronous_commit=on -c track_commit_timestamp=on \
  -c max_wal_size=32GB -c checkpoint_timeout=1h
psql "$(pg_url postgres)" -qc "create database bench_reference" -c "create database bench_rules" \
  -c "create database bench_reference_again"
start_mosquitto mosquitto </dev/null

# The admin the forms are posted as: its password in a file of the run's, never on a command line.
password_file=$run/admin-password
(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$password_file")

# One Lookout's share: a fresh process on database $2, the admin, then alerts-bench's run with
# $4 rules, its JSON in $run/$1.json.
one_run() { # tag, database, label, rules
  psql "$(pg_url postgres)" -qc checkpoint
  # JSON logs: one object per line, read for the report below.
  start_lookout "$2" "lookout-bench-alerts-$1" 'bench/#' LOOKOUT_LOG_FORMAT=json
  DATABASE_URL=$(pg_url "$2") RUST_LOG=error "$lookout" user add bench-admin --role admin \
    <"$password_file" >/dev/null
  "$bench" run --label "$3" --rules "$4" --topics "$topics" --rate "$rate" --secs "$secs" \
    --triggers "$triggers" --burst "$burst" --window "$window" --connections "$connections" \
    --mqtt-port "$mqtt_port" --http-port "$http_port" --database-url "$(pg_url "$2")" \
    --pid "$lookout_pid" --broker-pid "$broker" --postmaster-pid "$postmaster" \
    --admin bench-admin --password-file "$password_file" --clk-tck "$(getconf CLK_TCK)" \
    --log "$run/lookout-$2.log" --out "$run/$1.json"
  stop "$lookout_pid"
}

say "(r) Lookout without alert rules: $rate msg/s over $topics topics for $secs s, then flat out"
one_run r bench_reference "Lookout, no rules" 0
say "(m) Lookout with $topics rules, made through the admin form"
one_run m bench_rules "Lookout, $topics rules" "$topics"
again=()
if [ "$reference_again" != 0 ]; then
  say "(r') Lookout without alert rules again"
  one_run r2 bench_reference_again "Lookout, no rules, again" 0
  again=(--reference-again "$run/r2.json")
fi

# --- report -------------------------------------------------------------------------------------
# What Lookout's logs said: the notices it sent, the alerts it fired, whether the engine fell
# behind the live hub, and any trouble.
count() { grep -F -- "$1" "${@:2}" 2>/dev/null | grep -cF -- "${needle:-}" || true; }
# Warnings but the one at start-up before the admin exists (the run makes it right after).
warnings() { grep -hF '"level":"WARN"' "$@" 2>/dev/null | grep -vcF 'no admin user yet' || true; }
measured_log=$run/lookout-bench_rules.log
reference_logs=("$run/lookout-bench_reference.log" "$run/lookout-bench_reference_again.log")
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
postgres_version=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto_version=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null || echo '?')
lookout_rev=$lookout_rev
rustc=$(rustc --version)
topics=$topics
rate=$rate
secs=$secs
triggers=$triggers
burst=$burst
window=$window
connections=$connections
run_dir=$run
measured_delivered=$(count '"message":"notice delivered"' "$measured_log")
measured_fired=$(needle='"state":"firing"' count '"message":"alert"' "$measured_log")
measured_catchups=$(count 'alert rules catch up' "$measured_log")
measured_errors=$(count '"level":"ERROR"' "$measured_log")
measured_warnings=$(warnings "$measured_log")
reference_errors=$(count '"level":"ERROR"' "${reference_logs[@]}")
reference_warnings=$(warnings "${reference_logs[@]}")
META
mkdir -p "$(dirname "$results")"
"$bench" report --meta "$run/meta" --reference "$run/r.json" --measured "$run/m.json" \
  "${again[@]}" --out "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

#!/usr/bin/env bash
# The ingest benchmark, start to finish: a private Mosquitto and PostgreSQL, then (a) the broker
# ceiling, (b) Node-RED and (c) Lookout at the same ladder of offered rates, one after another,
# and bench/results/ingest.md from what they did. See that file's Method section.
#
# Knobs: BENCH_RATES (comma-separated msg/s), BENCH_STEP_SECS, BENCH_REFINE, BENCH_BURST,
# BENCH_WINDOW, BENCH_LOOKOUT_VARIANT (settings for an extra Lookout run), LOOKOUT_REV (the commit
# to build, default HEAD), LOOKOUT_BIN (a lookout binary to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-run}
nodered_home=${BENCH_NODERED_HOME:-/var/tmp/lookout-bench-nodered}
rates=${BENCH_RATES:-1000,2000,5000,10000,20000,40000,60000,70000,80000,90000,100000,110000,120000}
step_secs=${BENCH_STEP_SECS:-6}
refine=${BENCH_REFINE:-3}
# Environment for a second Lookout run beside the default one, e.g. a writer setting; empty: none.
variant=${BENCH_LOOKOUT_VARIANT-LOOKOUT_WRITER_BATCH_MAX=10000}
burst=${BENCH_BURST:-200000}
window=${BENCH_WINDOW:-1000}
results=$repo/bench/results/ingest.md

# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
bench=$(build_bench "$here" ingest-bench)
build_lookout

if [ ! -f "$nodered_home/node_modules/node-red/package.json" ] \
  || [ ! -f "$nodered_home/node_modules/pg/package.json" ]; then
  say "installing Node-RED 4 and pg into $nodered_home"
  mkdir -p "$nodered_home"
  npm install --prefix "$nodered_home" --no-audit --no-fund node-red@4 pg >&2
fi

rm -rf "$run"
mkdir -p "$run"

# --- PostgreSQL: a private cluster, for commit timestamps and a clean CPU account --------------
start_postgres -c fsync=on -c synchronous_commit=on -c track_commit_timestamp=on \
  -c track_wal_io_timing=on
psql "$(pg_url postgres)" -qc "create database bench_nodered" -c "create database bench_lookout" \
  -c "create database bench_lookout_variant"

# --- Mosquitto: a private broker with the queue settings Lookout needs -------------------------
start_mosquitto mosquitto </dev/null

# WAL flushes so far and the milliseconds they took (track_wal_io_timing), as "count|ms".
wal_flushes() { psql "$(pg_url postgres)" -Atc "select wal_sync, wal_sync_time from pg_stat_wal"; }
# What happened between two wal_flushes readings, as a phrase for the report.
wal_between() {
  awk -F'|' -v a="$1" -v b="$2" 'BEGIN { split(a, x, "|"); split(b, y, "|"); n = y[1] - x[1];
    if (n > 0) printf "%d WAL flushes, %.2f ms each on average", n, (y[2] - x[2]) / n }'
}

ladder() {
  "$bench" ladder --mqtt-port "$mqtt_port" --broker-pid "$broker" --rates "$rates" \
    --step-secs "$step_secs" --refine "$refine" --burst "$burst" --window "$window" \
    --clk-tck "$(getconf CLK_TCK)" "$@"
}

# Lookout's own account of its batches (its Prometheus /metrics), as one line for the report.
batch_stats() {
  lookout_metrics "http://127.0.0.1:$http_port" 2>/dev/null | awk '
    /^lookout_batch_size_sum /            { size = $2 }
    /^lookout_batch_size_count /          { batches = $2 }
    /^lookout_batch_commit_seconds_sum /  { commit = $2 }
    END { if (batches > 0) printf "%d batches, %.0f messages and %.1f ms to write and commit on average",
          batches, size / batches, commit / batches * 1000 }' || echo "not available (no answer from /metrics)"
}

# --- (a) the broker ceiling ---------------------------------------------------------------------
say "(a) broker ceiling: discarding subscriber"
ladder --system "broker ceiling" --out "$run/a.json"

# --- (b) Node-RED -------------------------------------------------------------------------------
say "(b) Node-RED: schema from Lookout's migrations"
start_lookout bench_nodered lookout-bench-schema 'bench-schema-only/#'
stop "$lookout_pid"
mkdir -p "$run/nodered"
cp "$here/nodered/flows.json" "$here/nodered/settings.js" "$run/nodered/"
nodered_failure=
BENCH_MQTT_PORT=$mqtt_port BENCH_DATABASE_URL=$(pg_url bench_nodered) \
  BENCH_NODERED_HOME=$nodered_home \
  node "$nodered_home/node_modules/node-red/red.js" -u "$run/nodered" \
  -s "$run/nodered/settings.js" -p "$(free_port 11880)" flows.json >"$run/nodered.log" 2>&1 &
nodered=$!
started+=("$nodered")
say "(b) Node-RED"
wal_before_nodered=$(wal_flushes)
if ! ladder --system "Node-RED" --database-url "$(pg_url bench_nodered)" --pid "$nodered" \
  --postmaster-pid "$postmaster" --out "$run/b.json"; then
  nodered_failure="the Node-RED run failed; see $run/nodered.log: $(tail -3 "$run/nodered.log" | tr '\n|' '  ')"
  say "$nodered_failure"
fi
nodered_wal=$(wal_between "$wal_before_nodered" "$(wal_flushes)")
stop "$nodered"

# --- (c) Lookout --------------------------------------------------------------------------------
say "(c) Lookout"
start_lookout bench_lookout lookout-bench-1 'bench/#'
wal_before_lookout=$(wal_flushes)
ladder --system "Lookout" --database-url "$(pg_url bench_lookout)" --pid "$lookout_pid" \
  --postmaster-pid "$postmaster" --out "$run/c.json"
lookout_batches=$(batch_stats)
lookout_wal=$(wal_between "$wal_before_lookout" "$(wal_flushes)")
lookout_errors=$(grep -ci 'error' "$run/lookout-bench_lookout.log" || true)
lookout_errors="$lookout_errors (log kept in $run)"
stop "$lookout_pid"

if [ -n "$variant" ]; then
  say "(c') Lookout with $variant"
  start_lookout bench_lookout_variant lookout-bench-2 'bench/#' "$variant"
  ladder --system "Lookout ($variant)" --database-url "$(pg_url bench_lookout_variant)" \
    --pid "$lookout_pid" --postmaster-pid "$postmaster" --out "$run/c2.json"
  variant_batches=$(batch_stats)
  stop "$lookout_pid"
fi

# --- report -------------------------------------------------------------------------------------
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
uname=$(uname -srm)
memory=$(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')
postgres_version=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto_version=$(mosquitto -h | head -1 | awk '{print $3}')
node_version=$(node --version)
nodered_version=$(node -p "require('$nodered_home/node_modules/node-red/package.json').version")
pg_module_version=$(node -p "require('$nodered_home/node_modules/pg/package.json').version")
lookout_rev=$lookout_rev
rustc=$(rustc --version)
payload_bytes=200
window=$window
rates=$rates
step_secs=$step_secs
refine=$refine
pg_port=$pg_port
mqtt_port=$mqtt_port
nodered_failure=$nodered_failure
lookout_log_errors=$lookout_errors
lookout_variant=$variant
lookout_batches=$lookout_batches
nodered_wal=$nodered_wal
lookout_wal=$lookout_wal
variant_batches=${variant_batches:-}
META
nodered_json=()
[ -z "$nodered_failure" ] && nodered_json=(--nodered "$run/b.json")
[ -z "$variant" ] || nodered_json+=(--variant "$run/c2.json")
mkdir -p "$(dirname "$results")"
"$bench" report --meta "$run/meta" --ceiling "$run/a.json" "${nodered_json[@]}" \
  --lookout "$run/c.json" --out "$results"
say "wrote $results (raw results in $run)"

#!/usr/bin/env bash
# The ingest benchmark, start to finish: a private Mosquitto and PostgreSQL, then (a) the broker
# ceiling, (b) Node-RED and (c) Lookout at the same ladder of offered rates, one after another,
# and bench/results/ingest.md from what they did. See that file's Method section.
#
# Knobs: BENCH_RATES (comma-separated msg/s), BENCH_STEP_SECS, BENCH_REFINE, BENCH_BURST,
# BENCH_WINDOW, BENCH_LOOKOUT_VARIANT (settings for an extra Lookout run), LOOKOUT_REV (the commit to build, default HEAD), LOOKOUT_BIN (a lookout binary
# to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-run}
bin_dir=/var/tmp/lookout-bench-bin
nodered_home=${BENCH_NODERED_HOME:-/var/tmp/lookout-bench-nodered}
rates=${BENCH_RATES:-1000,2000,5000,10000,20000,40000,60000,70000,80000,90000,100000,110000,120000}
step_secs=${BENCH_STEP_SECS:-6}
refine=${BENCH_REFINE:-3}
# Environment for a second Lookout run beside the default one, e.g. a writer setting; empty: none.
variant=${BENCH_LOOKOUT_VARIANT-LOOKOUT_WRITER_BATCH_MAX=10000}
burst=${BENCH_BURST:-200000}
window=${BENCH_WINDOW:-1000}
results=$repo/bench/results/ingest.md

say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port
  for port in $(seq "$1" $(($1 + 200))); do port_open "$port" || { echo "$port"; return; }; done
  die "no free port from $1"
}
wait_for() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# Everything this script starts, stopped on exit by its own pid.
started=()
pg_data=
cleanup() {
  local pid
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    $as_pg "$pgbin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- programs ---------------------------------------------------------------------------------
say "building ingest-bench"
CARGO_TARGET_DIR=/var/tmp/lookout-bench-target \
  cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bench=/var/tmp/lookout-bench-target/release/ingest-bench

# Lookout as committed (default HEAD), built apart from the working tree, which other people
# edit while this runs, and from its target directory, whose lock their builds hold for long.
# The newest commit that changed Lookout (anything outside bench/), so benchmark commits do not
# force a rebuild.
lookout_rev=$(git -C "$repo" log -1 --format=%h "${LOOKOUT_REV:-HEAD}" -- . ':!bench')
if [ -n "${LOOKOUT_BIN:-}" ]; then
  lookout_src=$LOOKOUT_BIN
  lookout_rev="$lookout_rev? (LOOKOUT_BIN=$LOOKOUT_BIN)"
else
  src=/var/tmp/lookout-bench-src
  say "building Lookout $lookout_rev (release; a cold build takes 10 minutes or more)"
  if [ "$(cat "$src/.bench-rev" 2>/dev/null)" != "$lookout_rev" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git -C "$repo" archive "$lookout_rev" | tar -x -C "$src"
    echo "$lookout_rev" >"$src/.bench-rev"
  fi
  (cd "$src" && CARGO_TARGET_DIR=/var/tmp/lookout-bench-lookout-target \
    cargo build --release --quiet -p lookout)
  lookout_src=/var/tmp/lookout-bench-lookout-target/release/lookout
fi
# A copy, so a rebuild during the run cannot change it.
mkdir -p "$bin_dir"
cp "$lookout_src" "$bin_dir/lookout"
lookout=$bin_dir/lookout

if [ ! -f "$nodered_home/node_modules/node-red/package.json" ] \
  || [ ! -f "$nodered_home/node_modules/pg/package.json" ]; then
  say "installing Node-RED 4 and pg into $nodered_home"
  mkdir -p "$nodered_home"
  npm install --prefix "$nodered_home" --no-audit --no-fund node-red@4 pg >&2
fi

rm -rf "$run"
mkdir -p "$run"

# --- PostgreSQL: a private cluster, for commit timestamps and a clean CPU account --------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=
if [ "$(id -u)" -eq 0 ]; then as_pg="runuser -u postgres --"; fi
pg_port=$(free_port 15432)
pg_data=$run/pg
mkdir -p "$pg_data"
[ -z "$as_pg" ] || chown postgres: "$pg_data"
say "starting a private PostgreSQL on port $pg_port"
$as_pg "$pgbin/initdb" -D "$pg_data" -A trust -U postgres --no-sync >"$run/initdb.log"
$as_pg "$pgbin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -o "\
  -c port=$pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pg_data \
  -c shared_buffers=128MB -c max_wal_size=1GB -c min_wal_size=80MB -c autovacuum=off \
  -c fsync=on -c synchronous_commit=on -c track_commit_timestamp=on -c track_wal_io_timing=on" \
  start >/dev/null
postmaster=$(head -1 "$pg_data/postmaster.pid")
pg_url() { echo "postgres://postgres@127.0.0.1:$pg_port/$1"; }
psql "$(pg_url postgres)" -qc "create database bench_nodered" -c "create database bench_lookout" \
  -c "create database bench_lookout_variant"

# --- Mosquitto: a private broker with the queue settings Lookout needs -------------------------
mqtt_port=$(free_port 18830)
cat >"$run/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
persistence false
log_dest stderr
log_type error
log_type warning
CONF
say "starting a private Mosquitto on port $mqtt_port"
mosquitto -c "$run/mosquitto.conf" 2>"$run/mosquitto.log" &
broker=$!
started+=("$broker")
wait_for 10 port_open "$mqtt_port" || die "Mosquitto did not start (see $run/mosquitto.log)"

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

start_lookout() { # database, client id, subscription, [extra environment]
  http_port=$(free_port 13000)
  # shellcheck disable=SC2086 # the extra environment is a list of words
  env ${4:-} DATABASE_URL=$(pg_url "$1") LOOKOUT_LISTEN=127.0.0.1:$http_port \
    LOOKOUT_MQTT_URL=mqtt://127.0.0.1:$mqtt_port LOOKOUT_MQTT_CLIENT_ID=$2 \
    LOOKOUT_MQTT_SUBSCRIPTIONS=$3 LEPTOS_SITE_ROOT=/tmp RUST_LOG=info \
    "$lookout" serve >>"$run/lookout-$1.log" 2>&1 &
  lookout_pid=$!
  started+=("$lookout_pid")
  wait_for 120 port_open "$http_port" || die "Lookout did not start (see $run/lookout-$1.log)"
}

# Lookout's own account of its batches (its Prometheus /metrics), as one line for the report.
batch_stats() {
  curl -fsS "http://127.0.0.1:$http_port/metrics" 2>/dev/null | awk '
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

#!/usr/bin/env bash
# The ingest benchmark, start to finish: a private Mosquitto and PostgreSQL, then (b) Node-RED,
# (a) the broker ceiling, (c) Lookout with a signed-in user's live stream open, and the ceiling
# again, at the same ladder of offered rates, one after another, so that the reference brackets
# Lookout; bench/results/ingest.md from what they did. See that file's Method section.
#
# Knobs: BENCH_RATES (comma-separated msg/s), BENCH_STEP_SECS, BENCH_REFINE, BENCH_BURST,
# BENCH_WINDOW, BENCH_LIVE_STREAM (the query of the stream open during Lookout's runs, default
# `filter=%23&conflate_ms=250`, the overview page's; empty: none), BENCH_LOOKOUT_VARIANT
# (settings for an extra Lookout run, default none), BENCH_VARIANT_STREAM (its stream, default
# BENCH_LIVE_STREAM) and BENCH_VARIANT_BIN (its binary, to compare a change with the commit in one
# run), BENCH_VARIANT_SERIES (JSON pointers, comma-separated, named as series on `bench/+` for
# the extra run, e.g. `/temperature,/humidity`: what rolling up numbers inside the payloads costs;
# any of the four makes the extra run), BENCH_NODERED (0: leave Node-RED out), BENCH_CEILING_SPREAD (how far apart,
# as a share, two ceiling runs may be before a third is run; 0.10), BENCH_RESULTS, LOOKOUT_REV
# (the commit to build, default HEAD), LOOKOUT_BIN (a lookout binary to use instead of building
# one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-run}
nodered_home=${BENCH_NODERED_HOME:-/var/tmp/lookout-bench-nodered}
rates=${BENCH_RATES:-1000,2000,5000,10000,20000,40000,60000,70000,80000,90000,100000,110000,120000}
step_secs=${BENCH_STEP_SECS:-6}
refine=${BENCH_REFINE:-3}
# Environment for a second Lookout run beside the default one, e.g. a writer setting; empty: none.
variant=${BENCH_LOOKOUT_VARIANT-}
stream_query=${BENCH_LIVE_STREAM-filter=%23&conflate_ms=250}
variant_stream_query=${BENCH_VARIANT_STREAM-$stream_query}
variant_bin=${BENCH_VARIANT_BIN-}
variant_series=${BENCH_VARIANT_SERIES-}
# What the extra run changes, in words for the report; empty: no extra run.
variant_label=$variant
[ -z "$variant_bin" ] || variant_label+="${variant_label:+, }the binary $variant_bin"
[ -z "$variant_series" ] || variant_label+="${variant_label:+, }series named on bench/+: $variant_series"
[ "$variant_stream_query" = "$stream_query" ] ||
  variant_label+="${variant_label:+, }live stream: ${variant_stream_query:-none}"
with_nodered=${BENCH_NODERED:-1}
ceiling_spread=${BENCH_CEILING_SPREAD:-0.10}
burst=${BENCH_BURST:-200000}
window=${BENCH_WINDOW:-1000}
results=${BENCH_RESULTS:-$repo/bench/results/ingest.md}

# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
bench=$(build_bench "$here" ingest-bench)
build_lookout

if [ "$with_nodered" != 0 ] && { [ ! -f "$nodered_home/node_modules/node-red/package.json" ] \
  || [ ! -f "$nodered_home/node_modules/pg/package.json" ]; }; then
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
  metrics 2>/dev/null | awk '
    /^lookout_batch_size_sum /            { size = $2 }
    /^lookout_batch_size_count /          { batches = $2 }
    /^lookout_batch_commit_seconds_sum /  { commit = $2 }
    END { if (batches > 0) printf "%d batches, %.0f messages and %.1f ms to write and commit on average",
          batches, size / batches, commit / batches * 1000 }' || echo "not available (no answer from /metrics)"
}

# The stored rate the broker ceiling sustained in a ladder's JSON.
sustained_rate() {
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["steps"][r["sustained"]]["stored_rate"] if r.get("sustained") is not None else 0)' "$1"
}

# A signed-in viewer's live stream (GET /api/live?$2), open and read from here until Lookout
# stops: the hub's work for a connection is part of what is measured. Its events are counted
# into $run/$1.stream ("open", then "messages N resyncs N replaced N" once the stream ends).
stream_pid=
open_stream() { # name, query, database
  stream_pid=
  [ -n "$2" ] || return 0
  local password base=http://127.0.0.1:$http_port
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" | DATABASE_URL=$(pg_url "$3") RUST_LOG=error \
    "$lookout" user add bench-viewer --role viewer >/dev/null
  curl -fsS -o /dev/null -c "$run/$1.cookies" -H "Origin: $base" --data-urlencode name=bench-viewer \
    --data-urlencode "password=$password" --data-urlencode next=/ "$base/login"
  curl -sSN -b "$run/$1.cookies" "$base/api/live?$2" 2>"$run/$1.stream-errors" | awk '
    !opened { print "open"; fflush(); opened = 1 }
    /^event: message/ { m++ } /^event: resync/ { r++ } /^event: replaced/ { p++ }
    END { printf "messages %d resyncs %d replaced %d\n", m, r, p }' >"$run/$1.stream" &
  stream_pid=$!
  started+=("$stream_pid")
  wait_for 10 grep -q open "$run/$1.stream" || die "the live stream did not open (see $run/$1.stream-errors)"
}
# What the stream of $1 received, as a phrase for the report; after Lookout stopped.
stream_summary() { # name, query
  [ -n "$2" ] || { echo "none"; return; }
  [ -z "$stream_pid" ] || wait "$stream_pid" 2>/dev/null || true
  awk -v q="$2" '/^messages/ { printf "one viewer'"'"'s `GET /api/live?%s`, read throughout: %s message events, %s resyncs, %s replaced events", q, $2, $4, $6 }' "$run/$1.stream"
}

# --- (b) Node-RED -------------------------------------------------------------------------------
nodered_failure=
if [ "$with_nodered" = 0 ]; then
  nodered_failure="left out of this run (BENCH_NODERED=0)"
  nodered_wal=
else
  say "(b) Node-RED: schema from Lookout's migrations"
  start_lookout bench_nodered lookout-bench-schema 'bench-schema-only/#'
  stop "$lookout_pid"
  mkdir -p "$run/nodered"
  cp "$here/nodered/flows.json" "$here/nodered/settings.js" "$run/nodered/"
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
fi

# --- (a) the broker ceiling ---------------------------------------------------------------------
say "(a) broker ceiling: discarding subscriber"
ladder --system "broker ceiling" --out "$run/a.json"

# --- (c) Lookout --------------------------------------------------------------------------------
say "(c) Lookout"
start_lookout bench_lookout lookout-bench-1 'bench/#'
open_stream c "$stream_query" bench_lookout
wal_before_lookout=$(wal_flushes)
ladder --system "Lookout" --database-url "$(pg_url bench_lookout)" --pid "$lookout_pid" \
  --postmaster-pid "$postmaster" --out "$run/c.json"
lookout_batches=$(batch_stats)
lookout_wal=$(wal_between "$wal_before_lookout" "$(wal_flushes)")
lookout_errors=$(grep -ci 'error' "$run/lookout-bench_lookout.log" || true)
lookout_errors="$lookout_errors (log kept in $run)"
stop "$lookout_pid"
lookout_stream=$(stream_summary c "$stream_query")

# --- the broker ceiling again -------------------------------------------------------------------
# The reference is measured just before Lookout and again just after it, under whatever else the
# shared machine does by then; when the two differ by more than $ceiling_spread, a third decides
# (the report uses the higher of two that agree, or the median of three, and lists every run).
say "(a) broker ceiling again"
ladder --system "broker ceiling" --out "$run/a2.json"
ceilings=("$run/a.json" "$run/a2.json")
if ! python3 -c 'import sys; a, b, s = map(float, sys.argv[1:]); sys.exit(abs(a - b) > s * max(a, b))' \
  "$(sustained_rate "$run/a.json")" "$(sustained_rate "$run/a2.json")" "$ceiling_spread"; then
  say "(a) the two ceiling runs differ by more than $ceiling_spread: a third"
  ladder --system "broker ceiling" --out "$run/a3.json"
  ceilings+=("$run/a3.json")
fi

if [ -n "$variant_label" ]; then
  say "(c') Lookout with $variant_label"
  measured=$lookout
  if [ -n "$variant_bin" ]; then
    lookout=/var/tmp/lookout-bench-bin/lookout-variant-$$
    cp "$variant_bin" "$lookout"
  fi
  start_lookout bench_lookout_variant lookout-bench-2 'bench/#' "$variant"
  if [ -n "$variant_series" ]; then
    IFS=, read -r -a pointers <<<"$variant_series"
    for pointer in "${pointers[@]}"; do
      psql "$(pg_url bench_lookout_variant)" -qc "insert into value_series (topic_filter, pointer, label) values ('bench/+', '$pointer', '$pointer')"
    done
    # Lookout reads the series again every 10 s (app::server::series_edits::SERIES_REFRESH).
    sleep 11
  fi
  open_stream c2 "$variant_stream_query" bench_lookout_variant
  ladder --system "Lookout ($variant_label)" --database-url "$(pg_url bench_lookout_variant)" \
    --pid "$lookout_pid" --postmaster-pid "$postmaster" --out "$run/c2.json"
  variant_batches=$(batch_stats)
  stop "$lookout_pid"
  variant_stream=$(stream_summary c2 "$variant_stream_query")
  [ -z "$variant_bin" ] || rm -f "$lookout"
  lookout=$measured
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
nodered_version=$(node -p "require('$nodered_home/node_modules/node-red/package.json').version" 2>/dev/null || echo '?')
pg_module_version=$(node -p "require('$nodered_home/node_modules/pg/package.json').version" 2>/dev/null || echo '?')
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
lookout_variant=$variant_label
lookout_batches=$lookout_batches
nodered_wal=$nodered_wal
lookout_wal=$lookout_wal
variant_batches=${variant_batches:-}
lookout_stream=$lookout_stream
variant_stream=${variant_stream:-}
ceiling_spread_pct=$(awk -v s="$ceiling_spread" 'BEGIN { printf "%.0f %%", s * 100 }')
META
nodered_json=()
[ -z "$nodered_failure" ] && nodered_json=(--nodered "$run/b.json")
[ -z "$variant_label" ] || nodered_json+=(--variant "$run/c2.json")
mkdir -p "$(dirname "$results")"
"$bench" report --meta "$run/meta" "${ceilings[@]/#/--ceiling=}" "${nodered_json[@]}" \
  --lookout "$run/c.json" --out "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

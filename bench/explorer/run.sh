#!/usr/bin/env bash
# The topic explorer benchmark, start to finish: a private PostgreSQL and Mosquitto, the release
# Lookout with its release site, 10,000 topics published once, then Chromium on /topics measured
# in five steps of BENCH_SECS each: idle and with BENCH_RATE msg/s over those topics; with every
# level open and the messages; with every level open and the view scrolling, idle and with the
# messages. Writes bench/results/explorer.md (see its Method section); the raw measurements stay
# in the run directory. About 3 minutes plus builds.
#
# Knobs: BENCH_TOPICS (10000), BENCH_GROUPS (100: the levels the topics sit under), BENCH_RATE
# (5000), BENCH_SECS (20), BENCH_SCROLL_PX_S (1500), BENCH_QUIET_WAIT_S (300: how long to wait for
# the shared machine to be nearly idle before measuring), BENCH_RESULTS (the report's path),
# BENCH_RUN_DIR, LOOKOUT_REV (the commit to build, default HEAD), LOOKOUT_BIN and LOOKOUT_SITE (a
# lookout binary and its site directory to use instead of building them).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-explorer}
topics=${BENCH_TOPICS:-10000}
groups=${BENCH_GROUPS:-100}
rate=${BENCH_RATE:-5000}
secs=${BENCH_SECS:-20}
scroll_px_s=${BENCH_SCROLL_PX_S:-1500}
results=${BENCH_RESULTS:-$repo/bench/results/explorer.md}

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
bench=$(build_bench "$repo/bench/ingest" ingest-bench)
build_lookout
build_site
if [ ! -d "$repo/end2end/node_modules/playwright-core" ]; then
  say "installing playwright-core into end2end/node_modules"
  (cd "$repo/end2end" && npm ci --silent)
fi

# --- the system under test ----------------------------------------------------------------------
start_postgres
psql "$(pg_url postgres)" -qc "create database bench_explorer"
start_mosquitto mosquitto </dev/null
start_lookout bench_explorer lookout-bench-explorer 'bench/#' \
  "LEPTOS_SITE_ROOT=$site LEPTOS_ENV=PROD RUST_LOG=warn"
viewer=bench-viewer
password=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$password" | DATABASE_URL=$(pg_url bench_explorer) RUST_LOG=error \
  "$lookout" user add "$viewer" --role viewer >/dev/null

say "publishing $topics topics once"
"$bench" publish --mqtt-port "$mqtt_port" --rate 0 --count "$topics" --topics "$topics" \
  --groups "$groups" >"$run/seed.json"
stored() { [ "$(psql "$(pg_url bench_explorer)" -Atc 'select count(*) from topic')" -ge "$topics" ]; }
wait_for 120 stored || die "Lookout did not store the $topics topics (see $run/lookout-bench_explorer.log)"

# --- the browser --------------------------------------------------------------------------------
say "measuring /topics in Chromium: 5 steps of $secs s"
BENCH_URL=http://127.0.0.1:$http_port BENCH_USER=$viewer BENCH_PASSWORD=$password \
  BENCH_MQTT_PORT=$mqtt_port BENCH_PUBLISHER=$bench BENCH_TOPICS=$topics BENCH_GROUPS=$groups \
  BENCH_RATE=$rate BENCH_SECS=$secs BENCH_SCROLL_PX_S=$scroll_px_s \
  BENCH_PIDS="lookout=$lookout_pid mosquitto=$broker postgres=$postmaster" \
  node "$here/measure.mjs" "$run/explorer.json"

# --- report -------------------------------------------------------------------------------------
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
uname=$(uname -srm)
memory=$(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')
lookout_rev=$lookout_rev
rustc=$(rustc --version)
node=$(node --version)
postgres=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto=$(mosquitto -h | head -1 | awk '{print $3}')
wasm_bytes=$(stat -c %s "$site/pkg/lookout.wasm")
lookout_log_errors=$(grep -ci 'error' "$run/lookout-bench_explorer.log" || true)
META
node "$here/report.mjs" "$run/explorer.json" "$run/meta" "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

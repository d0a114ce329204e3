#!/usr/bin/env bash
# What deploying Lookout costs (issue 7): the release binary's size, the browser bundle's size
# (raw, gzip and as served), start-up time to /readyz, resident memory idle and while ingesting
# BENCH_RATE msg/s, and the bytes a first visit to each page transfers (issue 16). The broker of
# the same run (Mosquitto, a small C server) is measured beside it as the reference. Writes
# bench/results/footprint.md. About 4 minutes plus builds.
#
# Measures the release binary bench/build.sh builds of LOOKOUT_REV (default HEAD), as
# scripts/release.sh builds it, or LOOKOUT_BIN with its site directory LOOKOUT_SITE. Knobs:
# BENCH_RATE (5000), BENCH_LOAD_SECS (60), BENCH_IDLE_SECS (20), BENCH_RESULTS, BENCH_RUN_DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-footprint}
rate=${BENCH_RATE:-5000}
load_secs=${BENCH_LOAD_SECS:-60}
idle_secs=${BENCH_IDLE_SECS:-20}
results=${BENCH_RESULTS:-$repo/bench/results/footprint.md}

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

bench=$(build_bench "$repo/bench/ingest" ingest-bench)
build_lookout
build_site
release_bin=$lookout
release_site=$site

# The binary runs alone in an empty directory, as deployed.
mkdir -p "$run/deploy"
cp "$release_bin" "$run/deploy/lookout"

# As bench/lib.sh's wait_for, polling every 10 ms: start-up takes about a tenth of a second.
wait_fine() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 100))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.01; done
  return 1
}
kib() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }
gzipped() { gzip -9 -c "$1" | wc -c; }
size() { stat -c %s "$1"; }

start_postgres
psql "$(pg_url postgres)" -qc "create database footprint"
start_mosquitto /usr/sbin/mosquitto </dev/null
# Timed on a second broker with the same settings, at the same resolution as Lookout below; a
# start takes a few milliseconds, which another process's burst can double, so it is started five
# times and the median taken.
reference_port=$(free_port $((mqtt_port + 1)))
sed "s/^listener $mqtt_port /listener $reference_port /" "$run/mosquitto.conf" >"$run/reference.conf"
broker_starts=()
for _ in 1 2 3 4 5; do
  started_broker=$(now_ms)
  /usr/sbin/mosquitto -c "$run/reference.conf" 2>>"$run/reference.log" &
  reference_broker=$!
  started+=("$reference_broker")
  wait_fine 10 port_open "$reference_port" || die "the reference Mosquitto did not start"
  broker_starts+=($(($(now_ms) - started_broker)))
  stop "$reference_broker"
done
broker_ready_ms=$(printf '%s\n' "${broker_starts[@]}" | sort -n | sed -n 3p)

# Start-up to ready: from exec to the first 200 from /readyz (database and broker reachable).
# The first start also creates the schema; the second is an ordinary restart.
http_port=$(free_port 13000)
start_ready() {
  local begun
  begun=$(now_ms)
  (cd "$run/deploy" && exec env -i PATH="$PATH" DATABASE_URL="$(pg_url footprint)" \
    LOOKOUT_LISTEN="127.0.0.1:$http_port" LOOKOUT_MQTT_URL="mqtt://127.0.0.1:$mqtt_port" \
    LOOKOUT_MQTT_CLIENT_ID=footprint LOOKOUT_MQTT_SUBSCRIPTIONS='bench/#' RUST_LOG=warn \
    ./lookout serve >>"$run/lookout.log" 2>&1) &
  lookout_pid=$!
  started+=("$lookout_pid")
  ready() { curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null; }
  wait_fine 60 ready || die "Lookout did not become ready (see $run/lookout.log)"
  ready_ms=$(($(now_ms) - begun))
}
say "starting Lookout (first start: creates the schema)"
start_ready
first_start_ms=$ready_ms
stop "$lookout_pid"
say "restarting Lookout"
start_ready
restart_ms=$ready_ms

say "idle for ${idle_secs}s"
# Pages served once each, so the idle figure includes what serving them allocates.
curl -fsS "http://127.0.0.1:$http_port/login" >/dev/null
curl -fsS "http://127.0.0.1:$http_port/pkg/lookout.wasm" >/dev/null
sleep "$idle_secs"
idle_lookout=$(kib "$lookout_pid" VmRSS)
idle_broker=$(kib "$broker" VmRSS)

say "publishing $rate msg/s for ${load_secs}s"
count=$((rate * load_secs))
"$bench" publish --mqtt-port "$mqtt_port" --rate "$rate" --count "$count" >"$run/publish.json" &
publisher=$!
started+=("$publisher")
peak_lookout=0; peak_broker=0; samples=()
for _ in $(seq "$load_secs"); do
  sleep 1
  kill -0 "$publisher" 2>/dev/null || break
  l=$(kib "$lookout_pid" VmRSS); b=$(kib "$broker" VmRSS)
  samples+=("$l")
  [ "$l" -gt "$peak_lookout" ] && peak_lookout=$l
  [ "$b" -gt "$peak_broker" ] && peak_broker=$b
done
wait "$publisher" || die "the publisher failed (see $run/publish.json)"
stored() { [ "$(psql "$(pg_url footprint)" -Atqc 'select count(*) from message')" -ge "$count" ]; }
wait_for 120 stored || die "Lookout did not store all $count messages"
median_lookout=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
after_lookout=$(kib "$lookout_pid" VmRSS)

# The bytes of a site file as the binary sends it to a browser that accepts brotli and gzip.
served() {
  curl -fsS -H 'Accept-Encoding: br, gzip' -o /dev/null -w '%{size_download}' \
    "http://127.0.0.1:$http_port/pkg/$(basename "$1")"
}
served_encoding() {
  curl -fsS -H 'Accept-Encoding: br, gzip' -o /dev/null -D - "http://127.0.0.1:$http_port/pkg/$(basename "$1")" |
    awk 'tolower($1) == "content-encoding:" { print $2 }' | tr -d '\r'
}

# What a first visit to each page transfers, measured in Chromium (transfer.mjs) on the demo:
# the same binary with its own broker and simulated devices, an admin and a published status
# page, so every page has something to show.
measure_pages() {
  stop "$lookout_pid"
  [ -d "$repo/end2end/node_modules/playwright-core" ] ||
    (cd "$repo/end2end" && npm ci --silent --no-audit --no-fund) || die "installing playwright-core failed"
  psql "$(pg_url postgres)" -qc "create database footprint_pages"
  (cd "$run/deploy" && exec env -i PATH="$PATH" DATABASE_URL="$(pg_url footprint_pages)" RUST_LOG=warn \
    ./lookout demo --listen "127.0.0.1:$http_port" >"$run/demo.out" 2>>"$run/lookout.log") &
  demo_pid=$!
  started+=("$demo_pid")
  demo_ready() { curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null; }
  wait_for 60 demo_ready || die "the demo did not become ready (see $run/lookout.log)"
  local password=footprint-$$-$RANDOM
  printf '%s\n' "$password" | env -i PATH="$PATH" DATABASE_URL="$(pg_url footprint_pages)" RUST_LOG=error \
    "$lookout" user add footprint --role admin >/dev/null
  # Some history for the topic page and the status page's widgets: the weather station
  # publishes every 5 s.
  demo_topic=demo/weather/temperature
  history() {
    [ "$(psql "$(pg_url footprint_pages)" -Atqc "select count(*) from message m
      join topic t on t.id = m.topic_id where t.name = '$demo_topic'")" -ge 5 ]
  }
  wait_for 60 history || die "the demo's devices did not publish to $demo_topic"
  transfer_rows=$(node "$here/transfer.mjs" "http://127.0.0.1:$http_port" footprint "$password" \
    "$demo_topic" demo) || die "measuring the pages failed"
  stop "$demo_pid"
}

wasm=$release_site/pkg/lookout.wasm
js=$release_site/pkg/lookout.js
css=$release_site/pkg/lookout.css
# The chunks cargo-leptos --split made for the pages app/src/lib.rs loads when opened; each is a
# file of its own to the browser, so each is compressed on its own here too.
split_js=$(ls "$release_site"/pkg/__wasm_split*.js)
topic_chunk=$(ls "$release_site"/pkg/split___topic_route_view_*.wasm)
chunk_count=0 chunks_raw=0 chunks_gzip=0
for chunk in "$release_site"/pkg/*.wasm; do
  [ "$chunk" = "$wasm" ] && continue
  chunk_count=$((chunk_count + 1))
  chunks_raw=$((chunks_raw + $(size "$chunk")))
  chunks_gzip=$((chunks_gzip + $(gzipped "$chunk")))
done
# One table row per split page: the main module plus every chunk its entry in cargo-leptos's
# split manifest lists.
per_page_wasm() {
  python3 - "$release_site/pkg" <<'PY'
import gzip, json, pathlib, re, sys
pkg = pathlib.Path(sys.argv[1])
def gz(name):
    return len(gzip.compress((pkg / name).read_bytes(), 9))
main = gz("lookout.wasm")
manifest = json.loads((pkg / "__wasm_split_manifest.json").read_text())
for split, chunks in sorted(manifest.items()):
    page = re.sub(r"^__(.*)_route_view_\d+$", r"\1", split).replace("_", " ")
    print(f"| {page} | {(main + sum(gz(chunk + '.wasm') for chunk in chunks)) / 1e3:.0f} KB |")
PY
}
chunks_served=0
for chunk in "$release_site"/pkg/*.wasm; do
  [ "$chunk" = "$wasm" ] && continue
  chunks_served=$((chunks_served + $(served "$chunk")))
done
wasm_encoding=$(served_encoding "$wasm")
served_wasm=$(served "$wasm") served_topic_chunk=$(served "$topic_chunk")
served_split_js=$(served "$split_js") served_js=$(served "$js") served_css=$(served "$css")
# The bundle's sizes are taken from the serving binary above; the demo takes its port now.
say "measuring what a first visit to each page transfers"
measure_pages
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
kb() { awk -v b="$1" 'BEGIN { printf "%.0f KB", b / 1e3 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "×%.1f", a / b }'; }

cat >"$results" <<REPORT
# Footprint of one Lookout

What deploying Lookout costs, measured by \`bench/footprint/run.sh\` on $(date -u +%Y-%m-%d) with the
release binary of $lookout_rev (built as \`scripts/release.sh\` builds it; the site is inside
it). Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),
$(. /etc/os-release && echo "$PRETTY_NAME"). The reference is the run's own broker, Mosquitto
$(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), a small C server, measured at the same moments.

| | Lookout | Mosquitto (reference) | ratio |
| --- | --- | --- | --- |
| binary | $(mb "$(size "$release_bin")") (site included) | $(mb "$(size /usr/sbin/mosquitto)") (shared libraries apart) | $(ratio "$(size "$release_bin")" "$(size /usr/sbin/mosquitto)") |
| start-up to ready, first start (creates the schema) | $first_start_ms ms | $broker_ready_ms ms (to listening; median of 5 starts: ${broker_starts[*]} ms) | $(ratio "$first_start_ms" "$broker_ready_ms") |
| start-up to ready, restart | $restart_ms ms | | |
| resident memory, idle | $(mib "$idle_lookout") | $(mib "$idle_broker") | $(ratio "$idle_lookout" "$idle_broker") |
| resident memory at $rate msg/s, median / peak | $(mib "$median_lookout") / $(mib "$peak_lookout") | peak $(mib "$peak_broker") | $(ratio "$peak_lookout" "$peak_broker") (peaks) |
| resident memory after the load | $(mib "$after_lookout") | | |

The browser bundle (what a signed-in operator's browser loads once; public status pages load
none of it):

| file | raw | gzip -9 | as served ($wasm_encoding) |
| --- | --- | --- | --- |
| lookout.wasm (every operator) | $(kb "$(size "$wasm")") | $(kb "$(gzipped "$wasm")") | $(kb "$served_wasm") |
| pages loaded when opened: $chunk_count wasm chunks, all together | $(kb "$chunks_raw") | $(kb "$chunks_gzip") | $(kb "$chunks_served") |
| of them the topic page's own | $(kb "$(size "$topic_chunk")") | $(kb "$(gzipped "$topic_chunk")") | $(kb "$served_topic_chunk") |
| their loader, \`__wasm_split.*.js\` | $(kb "$(size "$split_js")") | $(kb "$(gzipped "$split_js")") | $(kb "$served_split_js") |
| lookout.js | $(kb "$(size "$js")") | $(kb "$(gzipped "$js")") | $(kb "$served_js") |
| lookout.css | $(kb "$(size "$css")") | $(kb "$(gzipped "$css")") | $(kb "$served_css") |

"As served" is what the binary sends a browser that accepts brotli and gzip: each file compressed
once at build time (brotli quality 11), so serving it costs no CPU.

Goal for the wasm every operator loads: at most 400 KB gzip (\`end2end/tests/release.test.mjs\`
checks it). A page split out of it costs its chunks on first opening, some shared with other
pages; all the wasm a first visit to each page needs (gzip -9, each file on its own):

| page | wasm in all, gzip |
| --- | --- |
| overview, explorer, devices, login | $(kb "$(gzipped "$wasm")") |
$(per_page_wasm)

What a first visit to each page transfers: Chromium with an empty cache, sending
\`Accept-Encoding: br, gzip\`, loads the page and everything it pulls in until the network has
been quiet for a second (\`bench/footprint/transfer.mjs\`), on \`lookout demo\` (the same binary,
with simulated devices, an admin and a published status page). Transferred counts headers and
bodies as they crossed the wire; the dashboard pages' live stream, which stays open, is left out.
Pages, server function answers and status pages are compressed as they go out (above 1 KB).

| page | requests | transferred | of it wasm | decoded bodies |
| --- | --- | --- | --- | --- |
$transfer_rows

Method: a private PostgreSQL and Mosquitto (bench/lib.sh), Lookout started from an empty
directory with only its environment; "ready" is the first 200 from \`/readyz\` (database and broker
reachable), timed from exec. Idle is after one page and the wasm were served and ${idle_secs} s
passed. The load is \`ingest-bench publish\` (bench/ingest) at $rate msg/s of small JSON payloads
over 1,000 topics for ${load_secs} s at QoS 1, sampled once a second; every message was stored
before the figures were taken.
REPORT
bench_stamp "$results"
say "wrote $results"
cat "$results"

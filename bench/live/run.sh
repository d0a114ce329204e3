#!/usr/bin/env bash
# The live stream benchmark, start to finish: a private PostgreSQL, a private Mosquitto with a
# websocket listener, then (a) the clients over MQTT-over-WebSocket straight to the broker, (a')
# the same over plain MQTT, the broker's idle websocket connections, and with Lookout: its idle
# SSE connections, (b) the clients over SSE with every message and (c) with the `#` clients
# conflated, and (a) once more at the end; bench/results/live.md from what they did. See that
# file's Method section.
#
# Knobs: BENCH_RATE (msg/s), BENCH_SECS (per streaming step), BENCH_WARMUP_SECS,
# BENCH_CONFLATE_MS, BENCH_TOPIC_CLIENTS, BENCH_ALL_CLIENTS, BENCH_IDLE_CLIENTS, BENCH_HOLD_SECS,
# BENCH_USERS, BENCH_SOURCE_IPS, BENCH_RESULTS (the report's path), LOOKOUT_REV (the commit to
# build, default HEAD), LOOKOUT_BIN (a lookout binary to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-live-run}
rate=${BENCH_RATE:-5000}
secs=${BENCH_SECS:-60}
warmup_secs=${BENCH_WARMUP_SECS:-2}
conflate_ms=${BENCH_CONFLATE_MS:-250}
topic_clients=${BENCH_TOPIC_CLIENTS:-1000}
all_clients=${BENCH_ALL_CLIENTS:-10}
idle_clients=${BENCH_IDLE_CLIENTS:-20000}
# Beyond Lookout's 15 s keep-alive and 20 s login recheck, so the idle streams show they survive both.
hold_secs=${BENCH_HOLD_SECS:-25}
users=${BENCH_USERS:-10}
# 20,000 connections from one address to one port would use most of its ephemeral ports.
source_ips=${BENCH_SOURCE_IPS:-8}
results=${BENCH_RESULTS:-$repo/bench/results/live.md}

# shellcheck source=../lib.sh
. "$here/../lib.sh"

# Each side of the idle step holds a socket per connection, beyond the usual limit on open files.
# Where the limit cannot be raised (no CAP_SYS_RESOURCE, as in some containers), the step holds
# as many connections as it allows, and the report says so.
idle_asked=$idle_clients
want=$((idle_clients + 500))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  if ! ulimit -Hn "$want" 2>/dev/null; then
    idle_clients=$(($(ulimit -Hn) - 500))
    say "open files are limited to $(ulimit -Hn) per process here: $idle_clients idle connections"
  fi
fi
ulimit -n "$(ulimit -Hn)"

# --- programs ---------------------------------------------------------------------------------
mosquitto_ws=$("$here/build-mosquitto.sh")
bench=$(build_bench "$here" live-bench)
build_lookout

rm -rf "$run"
mkdir -p "$run"

# --- PostgreSQL, the broker -------------------------------------------------------------------
start_postgres
psql "$(pg_url postgres)" -qc "create database bench_live"
ws_port=$(free_port 18900)
# Started afresh before each step that measures it, so that each starts from the same memory.
broker_up() {
  start_mosquitto "$mosquitto_ws" <<CONF
listener $ws_port 127.0.0.1
protocol websockets
CONF
  wait_for 10 port_open "$ws_port" || die "Mosquitto's websocket listener did not open"
}

live() {
  "$bench" "$1" --clk-tck "$(getconf CLK_TCK)" --source-ips "$source_ips" "${@:2}"
}
stream() { # label, system, port, server pid, seq base, result file, [extra arguments]
  live stream --label "$1" --system "$2" --port "$3" --server-pid "$4" --seq-base "$5" \
    --out "$6" --mqtt-port "$mqtt_port" --broker-pid "$broker" --rate "$rate" --secs "$secs" \
    --warmup-secs "$warmup_secs" --topic-clients "$topic_clients" --all-clients "$all_clients" "${@:7}" ||
    say "$1 failed; the report says it was not measured"
}
idle() { # label, system, port, server pid, result file, [extra arguments]
  live idle --label "$1" --system "$2" --port "$3" --server-pid "$4" --out "$5" \
    --clients "$idle_clients" --hold-secs "$hold_secs" "${@:6}" ||
    say "$1 failed; the report says it was not measured"
}

# --- (a) MQTT over WebSocket, without Lookout --------------------------------------------------
broker_up
say "(a) MQTT over WebSocket: $topic_clients + $all_clients clients, $rate msg/s for $secs s"
stream "(a) MQTT over WebSocket" mqtt-ws "$ws_port" "$broker" 0 "$run/a.json"
stop "$broker"
broker_up
say "(a') the same over plain MQTT"
stream "(a') plain MQTT" mqtt "$mqtt_port" "$broker" 3000000000 "$run/a-tcp.json"
stop "$broker"
broker_up
say "(a) $idle_clients idle MQTT-over-WebSocket connections"
idle "Mosquitto, MQTT over WebSocket" mqtt-ws "$ws_port" "$broker" "$run/a-idle.json"

# --- Lookout ------------------------------------------------------------------------------------
# Lookout's connection limits are for deployments; raised here to hold every connection of the
# run (the idle step's, spread over the users, with room for the probes).
limits="LOOKOUT_MAX_CONNECTIONS=$((idle_clients + topic_clients + all_clients + 1000)) \
LOOKOUT_MAX_STREAMS_PER_USER=$(((idle_clients + topic_clients + all_clients) / users + 100))"
lookout_up() {
  start_lookout bench_live lookout-bench-live 'bench/#' "$limits"
}
lookout_up
users_file=$run/users
: >"$users_file"
chmod 600 "$users_file"
for i in $(seq "$users"); do
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" | DATABASE_URL=$(pg_url bench_live) \
    "$lookout" user add "bench-viewer-$i" --role viewer >>"$run/users.log"
  echo "bench-viewer-$i $password" >>"$users_file"
done

say "Lookout: $idle_clients idle SSE connections"
idle "Lookout, SSE" sse "$http_port" "$lookout_pid" "$run/idle.json" --users-file "$users_file"

# Each step starts from a fresh Lookout process, so that its memory readings start alike.
stop "$lookout_pid"
lookout_up
say "(b) Lookout SSE: $topic_clients + $all_clients clients, $rate msg/s for $secs s"
stream "(b) Lookout SSE" sse "$http_port" "$lookout_pid" 1000000000 "$run/b.json" \
  --users-file "$users_file" --postmaster-pid "$postmaster"

stop "$lookout_pid"
lookout_up
say "(c) Lookout SSE, the # clients conflated to $conflate_ms ms"
stream "(c) Lookout SSE, conflated" sse "$http_port" "$lookout_pid" 2000000000 "$run/c.json" \
  --users-file "$users_file" --postmaster-pid "$postmaster" --all-conflate-ms "$conflate_ms"
stop "$lookout_pid"

# --- (a) again: the reference, at the end of the run ---------------------------------------------
# The shared machine may have disturbed the first run; the report compares the two and uses the
# faster.
stop "$broker"
broker_up
say "(a) again, at the end: MQTT over WebSocket"
stream "(a) MQTT over WebSocket, again" mqtt-ws "$ws_port" "$broker" 4000000000 "$run/a-again.json"

# --- report -------------------------------------------------------------------------------------
lookout_errors=$(cat "$run"/lookout-*.log | grep -ci 'error' || true)
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
uname=$(uname -srm)
memory=$(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')
nofile=$(ulimit -n)
postgres_version=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto_version=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null || echo '?')
libwebsockets_version=$(apt-cache policy libwebsockets-dev | awk '/Candidate:/ {print $2}')
lookout_rev=$lookout_rev
lookout_limits=$limits
rustc=$(rustc --version)
rate=$rate
secs=$secs
warmup_secs=$warmup_secs
topic_clients=$topic_clients
all_clients=$all_clients
conflate_ms=$conflate_ms
idle_clients=$idle_clients
idle_asked=$idle_asked
hold_secs=$hold_secs
users=$users
source_ips=$source_ips
lookout_log_errors=$lookout_errors
run_dir=$run
META
mkdir -p "$(dirname "$results")"
"$bench" report --meta "$run/meta" --reference "$run/a.json" --reference-again "$run/a-again.json" --plain "$run/a-tcp.json" --full "$run/b.json" \
  --conflated "$run/c.json" --reference-idle "$run/a-idle.json" --idle "$run/idle.json" \
  --out "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

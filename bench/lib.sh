# Shell helpers the benchmarks' run.sh scripts share: sourced, not run. Everything started through
# them is private to the run and stopped on exit.
#
# Expects `repo` (the repository root) and `run` (the run directory, already created) to be set
# by the script that sources this.

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

# Everything the script starts, stopped on exit by its own pid.
started=()
pg_data=
bench_cleanup() {
  local pid
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    $as_pg "$pgbin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 || true
  fi
  # The report is written by now; the cluster's millions of rows would only fill the disk
  # (BENCH_KEEP_PG=1 keeps them). Its log stays.
  if [ -n "$pg_data" ] && [ -d "$pg_data" ] && [ "${BENCH_KEEP_PG:-0}" != 1 ]; then
    find "$pg_data" -mindepth 1 -maxdepth 1 ! -name server.log -exec rm -rf {} +
  fi
  [ -z "${lookout:-}" ] || rm -f "$lookout"
}
trap bench_cleanup EXIT
# Stopped from outside (bench/all.sh's time limit, Ctrl-C): the exit trap still stops everything.
trap 'exit 143' TERM
trap 'exit 130' INT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Builds a benchmark crate (bench/<name>) into its own target directory; prints the binary.
build_bench() { # crate directory, binary name
  local target=${BENCH_TARGET_DIR:-/var/tmp/lookout-bench-target}/tools
  say "building $2"
  CARGO_TARGET_DIR=$target cargo build --release --quiet --manifest-path "$1/Cargo.toml"
  echo "$target/release/$2"
}

# The commit measured (LOOKOUT_REV, default HEAD): bench/build.sh builds its release binary, with
# the site inside, from `git archive` of it, away from the working tree and the shared target
# directory. LOOKOUT_BIN (and LOOKOUT_SITE, its site directory) name a binary to use instead;
# bench/all.sh passes the one it built with the commit it was built from.
if [ -n "${LOOKOUT_BIN:-}" ] && [ -z "${LOOKOUT_REV:-}" ]; then
  lookout_rev="? (LOOKOUT_BIN=$LOOKOUT_BIN)"
else
  lookout_rev=$(git -C "$repo" rev-parse --short "${LOOKOUT_REV:-HEAD}^{commit}")
fi

# Sets `lookout`: a copy of the binary of this run's own (outside $run, which some scripts create
# afresh after building), so a rebuild during the run cannot change it; and LOOKOUT_SITE.
build_lookout() {
  if [ -z "${LOOKOUT_BIN:-}" ]; then
    local built
    built=$("$repo/bench/build.sh" "$lookout_rev") || die "Lookout $lookout_rev did not build"
    LOOKOUT_BIN=$built/lookout
    LOOKOUT_SITE=${LOOKOUT_SITE:-$built/site}
  fi
  [ -x "$LOOKOUT_BIN" ] || die "no lookout binary at $LOOKOUT_BIN"
  mkdir -p /var/tmp/lookout-bench-bin
  lookout=/var/tmp/lookout-bench-bin/lookout-$$
  cp "$LOOKOUT_BIN" "$lookout"
}

# Sets `site`: the browser's files (wasm, js, css) the binary embeds, copied into the run
# directory, for the benchmarks that look at them. After build_lookout.
build_site() {
  [ -n "${LOOKOUT_SITE:-}" ] && [ -f "$LOOKOUT_SITE/pkg/lookout.wasm" ] ||
    die "no site directory beside LOOKOUT_BIN: set LOOKOUT_SITE (bench/build.sh makes both)"
  site=$run/site
  rm -rf "$site"
  cp -a "$LOOKOUT_SITE" "$site"
}

# A private PostgreSQL cluster of the machine's newest version in $run/pg, with the extra
# settings given (`-c name=value ...`). Sets pg_port, pg_data, postmaster; pg_url DB gives a URL.
start_postgres() {
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
    -c shared_buffers=128MB -c max_wal_size=1GB -c min_wal_size=80MB -c autovacuum=off $*" \
    start >/dev/null
  postmaster=$(head -1 "$pg_data/postmaster.pid")
}
pg_url() { echo "postgres://postgres@127.0.0.1:$pg_port/$1"; }

# A private Mosquitto (`$1`, the broker binary) with the queue settings Lookout needs
# (config/mosquitto.conf) on a plain listener; further configuration lines come on stdin.
# Sets mqtt_port and broker (its pid).
start_mosquitto() {
  local extra
  extra=$(cat)
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
$extra
CONF
  say "starting a private Mosquitto on port $mqtt_port"
  "$1" -c "$run/mosquitto.conf" 2>"$run/mosquitto.log" &
  broker=$!
  started+=("$broker")
  wait_for 10 port_open "$mqtt_port" || die "Mosquitto did not start (see $run/mosquitto.log)"
}

# The bearer token Lookout's /metrics asks for (LOOKOUT_METRICS_TOKEN; a commit from before the
# setting ignores it and answers anyone), and Lookout's metrics read with it.
metrics_token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
metrics() { curl -fsS -H "Authorization: Bearer $metrics_token" "http://127.0.0.1:$http_port/metrics"; }

# Starts `lookout serve` against database $1 with MQTT client id $2 and subscriptions $3, plus
# extra environment ($4, words, which may override the defaults). Sets http_port and lookout_pid;
# logs to $run/lookout-$1.log.
start_lookout() {
  http_port=$(free_port 13000)
  # shellcheck disable=SC2086 # the extra environment is a list of words
  env DATABASE_URL="$(pg_url "$1")" LOOKOUT_LISTEN="127.0.0.1:$http_port" \
    LOOKOUT_METRICS_TOKEN="$metrics_token" \
    LOOKOUT_MQTT_URL="mqtt://127.0.0.1:$mqtt_port" LOOKOUT_MQTT_CLIENT_ID="$2" \
    LOOKOUT_MQTT_SUBSCRIPTIONS="$3" LEPTOS_SITE_ROOT=/tmp RUST_LOG=info ${4:-} \
    "$lookout" serve >>"$run/lookout-$1.log" 2>&1 &
  lookout_pid=$!
  started+=("$lookout_pid")
  wait_for 120 port_open "$http_port" || die "Lookout did not start (see $run/lookout-$1.log)"
}

# The machine, in words: CPU model, cores, memory, kernel.
machine() {
  printf '%s, %s cores, %s GiB RAM, %s' \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" \
    "$(awk '/^MemTotal:/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -srm)"
}
bench_started=$(date -u '+%Y-%m-%d %H:%M UTC')
bench_load=$(cut -d' ' -f1 /proc/loadavg)

# Puts the stamp under the results file's title: the commit measured (and the binary's checksum,
# the same in every file of one bench/all.sh run), the machine and the date. Figures stay the
# report's own; a stamp already there is replaced.
bench_stamp() { # results file
  local binary=unknown
  [ -z "${lookout:-}" ] || [ ! -f "$lookout" ] || binary=$(sha256sum "$lookout" | cut -c1-12)
  local stamp="> Measured on Lookout \`$lookout_rev\` (release binary with the site inside, sha256 \`$binary…\`), $bench_started, on $(machine); load average $bench_load at the start.${BENCH_ALL_RUN:+ One of the runs of \`bench/all.sh\` started $BENCH_ALL_RUN.}"
  python3 - "$1" "$stamp" <<'PY'
import sys
path, stamp = sys.argv[1:]
lines = open(path, encoding="utf-8").read().split("\n")
for i in reversed(range(len(lines))):
    if lines[i].startswith("> Measured on Lookout "):
        del lines[i - 1 if i > 0 and not lines[i - 1] else i:i + 1]
title = next((i for i, l in enumerate(lines) if l.startswith("# ")), -1)
lines[title + 1:title + 1] = ["", stamp] if title >= 0 else [stamp, ""]
open(path, "w", encoding="utf-8").write("\n".join(lines))
PY
}

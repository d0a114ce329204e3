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
  [ -z "${lookout:-}" ] || rm -f "$lookout"
}
trap bench_cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Builds a benchmark crate (bench/<name>) into its own target directory; prints the binary.
build_bench() { # crate directory, binary name
  local target=/var/tmp/lookout-bench-target
  say "building $2"
  CARGO_TARGET_DIR=$target cargo build --release --quiet --manifest-path "$1/Cargo.toml"
  echo "$target/release/$2"
}

# Lookout as committed (default HEAD), built apart from the working tree, which other people
# edit while a benchmark runs, and from its target directory, whose lock their builds hold for
# long; the newest commit that changed Lookout (anything outside bench/), so benchmark commits do
# not force a rebuild. LOOKOUT_REV picks the commit.
lookout_src=/var/tmp/lookout-bench-src
lookout_target=/var/tmp/lookout-bench-lookout-target
lookout_rev=$(git -C "$repo" log -1 --format=%h "${LOOKOUT_REV:-HEAD}" -- . ':!bench')

# Runs a command in the source tree of $lookout_rev, unpacked if it is not there yet, holding the
# lock every benchmark takes, so none unpacks another commit under it.
in_lookout_src() {
  (
    exec 9>"$lookout_src.lock"
    flock 9
    if [ "$(cat "$lookout_src/.bench-rev" 2>/dev/null)" != "$lookout_rev" ]; then
      rm -rf "$lookout_src" && mkdir -p "$lookout_src"
      # Unpacked with the time of unpacking (-m), not the commit's: cargo judges freshness by
      # modification times, and the target directory may hold artifacts of another commit built
      # after this one was made, which it would take as up to date.
      git -C "$repo" archive "$lookout_rev" | tar -x -m -C "$lookout_src"
      echo "$lookout_rev" >"$lookout_src/.bench-rev"
    fi
    cd "$lookout_src" && CARGO_TARGET_DIR=$lookout_target "$@"
  )
}

# Sets `lookout`: a copy of the binary of this run's own (outside $run, which some scripts create
# afresh after building), so a rebuild during the run cannot change it. LOOKOUT_BIN names a binary
# to use instead of building one.
build_lookout() {
  mkdir -p /var/tmp/lookout-bench-bin
  lookout=/var/tmp/lookout-bench-bin/lookout-$$
  if [ -n "${LOOKOUT_BIN:-}" ]; then
    cp "$LOOKOUT_BIN" "$lookout"
    lookout_rev="$lookout_rev? (LOOKOUT_BIN=$LOOKOUT_BIN)"
    return
  fi
  say "building Lookout $lookout_rev (release; a cold build takes 10 minutes or more)"
  # Copied under the lock: another benchmark's build may replace the binary right after.
  in_lookout_src sh -c 'cargo build --release --quiet -p lookout && cp "$CARGO_TARGET_DIR/release/lookout" "$0"' \
    "$lookout"
}

# Sets `site`: the browser's files (wasm, js, css) for the release binary, copied into the run
# directory. cargo-leptos builds only the frontend here: the server stays the one `cargo build`
# made. LOOKOUT_SITE names a site directory to use instead.
build_site() {
  site=$run/site
  if [ -n "${LOOKOUT_SITE:-}" ]; then
    cp -a "$LOOKOUT_SITE" "$site"
    return
  fi
  say "building Lookout's site $lookout_rev (release wasm; a cold build takes 10 minutes or more)"
  # wasm-opt from scripts/bootstrap.sh's tools: cargo-leptos would download it otherwise.
  in_lookout_src env PATH="${LOOKOUT_TOOLS:-/var/cache/lookout-tools}/node_modules/.bin:$PATH" \
    sh -c 'cargo leptos build --release --split --frontend-only && cp -a target/site "$0"' "$site" \
    >"$run/site-build.log" 2>&1 || die "the site did not build (see $run/site-build.log)"
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

# The token the benchmarks read Lookout's /metrics with (closed without one).
bench_metrics_token=bench-metrics-token-0123456789abcdef
# Lookout's /metrics at base URL $1.
lookout_metrics() { curl -fsS -H "Authorization: Bearer $bench_metrics_token" "$1/metrics"; }

# Starts `lookout serve` against database $1 with MQTT client id $2 and subscriptions $3, plus
# extra environment ($4, words, which may override the defaults). Sets http_port and lookout_pid;
# logs to $run/lookout-$1.log.
start_lookout() {
  http_port=$(free_port 13000)
  # shellcheck disable=SC2086 # the extra environment is a list of words
  env DATABASE_URL="$(pg_url "$1")" LOOKOUT_LISTEN="127.0.0.1:$http_port" \
    LOOKOUT_MQTT_URL="mqtt://127.0.0.1:$mqtt_port" LOOKOUT_MQTT_CLIENT_ID="$2" \
    LOOKOUT_MQTT_SUBSCRIPTIONS="$3" LOOKOUT_METRICS_TOKEN="$bench_metrics_token" \
    LEPTOS_SITE_ROOT=/tmp RUST_LOG=info ${4:-} \
    "$lookout" serve >>"$run/lookout-$1.log" 2>&1 &
  lookout_pid=$!
  started+=("$lookout_pid")
  wait_for 120 port_open "$http_port" || die "Lookout did not start (see $run/lookout-$1.log)"
}

#!/usr/bin/env bash
# The public status page benchmark (issue 6): wrk against a published page served from Lookout's
# snapshot cache, against nginx serving the same HTML saved as a file (the ceiling), and both
# again while the load generator publishes BENCH_RATE msg/s that Lookout ingests. Writes
# bench/results/pages.md (see its Method section); wrk's own output stays in the run directory.
# About 11 minutes plus builds and any wait for the shared machine to quieten.
#
# Knobs: BENCH_RATE (5000), BENCH_SECS (20 per wrk run), BENCH_WARMUP_SECS (3),
# BENCH_CONNECTIONS (50), BENCH_THREADS (2), BENCH_ROUNDS (3: each step is run that many times,
# alternating, and the report takes the median), BENCH_QUIET_WAIT_S (300: how long to wait for the
# machine to be nearly idle before each idle step), BENCH_RESULTS (the report's path),
# BENCH_RUN_DIR, LOOKOUT_REV (the commit to build, default HEAD), LOOKOUT_BIN (a lookout binary
# to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-pages}
rate=${BENCH_RATE:-5000}
secs=${BENCH_SECS:-20}
warmup=${BENCH_WARMUP_SECS:-3}
conns=${BENCH_CONNECTIONS:-50}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-3}
quiet_wait=${BENCH_QUIET_WAIT_S:-300}
results=${BENCH_RESULTS:-$repo/bench/results/pages.md}
slug=bench
clk=$(getconf CLK_TCK)

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  say "installing wrk and nginx-light from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >"$run/apt.log"
fi
bench=$(build_bench "$repo/bench/ingest" ingest-bench)
build_lookout

# --- the system under test ----------------------------------------------------------------------
start_postgres
db=bench_pages
psql "$(pg_url postgres)" -qc "create database $db"
sql() { psql "$(pg_url "$db")" -v ON_ERROR_STOP=1 -qAt "$@"; }
start_mosquitto /usr/sbin/mosquitto </dev/null
# The status TTL stays at its default (5 s): what a deployment gets.
start_lookout "$db" lookout-bench-pages 'bench/#' "RUST_LOG=warn"
base=http://127.0.0.1:$http_port
# The page's topics in the public audience (the access rules of role 'public'), as an admin
# publishing such a page sets it; a commit from before the audience shows pages' topics anyway.
sql -c "insert into access_rule (role, filter, permission) values ('public', 'bench/#', 'read')" \
  >/dev/null 2>&1 || say "no public audience in this commit's schema: the page shows its topics anyway"

# 1,000 topics in 100 groups of 10 (bench/group-NNN/dev-NNNNN), so that a table widget lists one
# group; the page binds group 000 and the load goes to all of them.
topics=1000
groups=100
publish() { "$bench" publish --mqtt-port "$mqtt_port" --topics "$topics" --groups "$groups" "$@"; }
say "publishing every topic ten times"
publish --rate 0 --count $((topics * 10)) >"$run/seed.json"
seeded() { [ "$(sql -c 'select count(*) from latest')" -ge "$topics" ]; }
wait_for 60 seeded || die "Lookout did not store the seed messages (see $run/lookout-$db.log)"

# A day of history for the charted topic (one value a minute, older than anything ingested), so
# the sparkline and the history chart draw full series as on a page that has been up for a while.
t0=bench/group-000/dev-00000
sql <<SQL
insert into message (topic_id, received_at, payload, kind, qos, retain, value)
select t.id, now() - g * interval '1 minute',
       convert_to(format('{"temperature":%s,"humidity":%s}', v, v * 2), 'UTF8'), 'json', 1, false, null
from topic t, generate_series(1, 1440) g,
     lateral (select round((22 + 4 * sin(g / 229.0) + random())::numeric, 1) as v) x
where t.name = '$t0';
analyze;
SQL

# One widget of each kind, as an admin's editor would store them.
sql <<SQL
insert into status_page (slug, title, description, published)
values ('$slug', 'Greenhouse', 'Sensors of the greenhouse, refreshed every few seconds.', true);
insert into status_widget (page_id, position, kind, label, topic, pointer, unit, worse,
                           degraded_at, down_at, range)
select p.id, w.* from status_page p, (values
  (1, 'value',     'Temperature',        '$t0',                         '/temperature', '°C', 'above', null::float8, null::float8, '24h'),
  (2, 'status',    'Humidity',           'bench/group-000/dev-00001',   '/humidity',    '%',  'above', 60, 75, '24h'),
  (3, 'last_seen', 'Door sensor',        'bench/group-000/dev-00002',   '',             '',   'above', null, null, '24h'),
  (4, 'sparkline', 'Temperature today',  '$t0',                         '/temperature', '°C', 'above', null, null, '24h'),
  (5, 'history',   'Temperature, 24 h',  '$t0',                         '/temperature', '°C', 'above', null, null, '24h'),
  (6, 'table',     'All sensors',        'bench/group-000/+',           '/temperature', '°C', 'above', null, null, '24h')
) as w where p.slug = '$slug';
SQL

# --- the page and its copy for nginx --------------------------------------------------------------
page=$base/status/$slug
# Pages published behind Lookout's back (not through its editor) show within a TTL.
wait_for 15 curl -sf -o /dev/null "$page" || die "Lookout does not serve $page"
# Past the access rules' and the snapshot's lifetimes (5 s each), so the page saved for nginx is
# built with the audience above.
sleep 11
curl -sfS -D "$run/lookout.headers" -o "$run/page.html" "$page"
curl -sfS -o "$run/page.json" "$page.json"
etag=$(awk 'tolower($1) == "etag:" {print $2}' "$run/lookout.headers" | tr -d '\r')
not_modified=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$page")

# Same URL path, bytes and Content-Type as Lookout's; nginx's own ETag and Last-Modified come
# with it. keepalive_requests: nginx would close each connection after 1,000 requests, which
# hyper never does, and the reconnections would cost the ceiling, not the page.
mkdir -p "$run/nginx/html/status"
cp "$run/page.html" "$run/nginx/html/status/$slug"
nginx_port=$(free_port 18080)
cat >"$run/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $run/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  open_file_cache max=16 inactive=60s;
  server {
    listen 127.0.0.1:$nginx_port;
    root $run/nginx/html;
    location / {
      types { }
      default_type "text/html; charset=utf-8";
      add_header Cache-Control "public, max-age=5";
    }
  }
}
CONF
say "starting nginx on port $nginx_port"
nginx -e "$run/nginx/error.log" -p "$run/nginx" -c "$run/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
started+=("$nginx_pid")
wait_for 10 port_open "$nginx_port" || die "nginx did not start (see $run/nginx/error.log)"
ceiling=http://127.0.0.1:$nginx_port/status/$slug
curl -sfS -D "$run/nginx.headers" -o "$run/nginx-page.html" "$ceiling"
cmp -s "$run/page.html" "$run/nginx-page.html" || die "nginx does not serve the saved page"
for url in "$page" "$ceiling"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: *' "$url")" = 304 ] ||
    die "$url does not answer If-None-Match: * with 304"
done

# --- measuring ------------------------------------------------------------------------------------
# Busy and softirq ticks of the whole machine: loopback TCP is mostly softirq work, which no
# process is charged with.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $8}' /proc/stat; }
# User + system ticks of a process and its children (nginx's workers, PostgreSQL's backends).
tree_ticks() {
  [ -n "$1" ] || { echo 0; return; }
  local p sum=0 stat
  for p in "$1" $(pgrep -P "$1" || true); do
    stat=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
    # shellcheck disable=SC2086 # the fields of /proc/PID/stat
    set -- $stat
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}
# The cores are shared with other people's builds: wait for a moment they leave nearly idle
# (whatever this run's own processes do meanwhile).
own_ticks() {
  local p sum=0
  for p in "$lookout_pid" "$postmaster" "$broker" "$nginx_pid"; do sum=$((sum + $(tree_ticks "$p"))); done
  echo "$sum"
}
quiet_cores=
wait_quiet() {
  local deadline=$((SECONDS + quiet_wait)) a b o p
  while :; do
    read -r a _ < <(machine_ticks); o=$(own_ticks); sleep 3; read -r b _ < <(machine_ticks); p=$(own_ticks)
    quiet_cores=$(awk -v t=$((b - a - p + o)) -v c="$clk" 'BEGIN {printf "%.2f", t / c / 3}')
    if [ $((b - a - p + o)) -le $((clk * 3 / 4)) ] || [ $SECONDS -ge $deadline ]; then break; fi
  done
}
builds() { metrics 2>/dev/null | awk '/^lookout_status_snapshot_builds_total / {n = $2} END {print n + 0}'; }
publisher_pid=
rows=$run/rows
: >"$rows"
# One wrk run after a warm-up, with the CPU its server, the helpers and the machine used meanwhile.
measure() { # key, round, label, server pid, url, [wrk arguments]
  local key=$1 round=$2 label=$3 server=$4 url=$5 m0 i0 b0 s0 p0 q0 l0 m1 i1
  shift 5
  say "$label, round $round (machine $quiet_cores cores busy before)"
  wrk -t"$threads" -c"$conns" -d"${warmup}s" "$@" "$url" >/dev/null
  b0=$(builds); s0=$(tree_ticks "$server"); p0=$(tree_ticks "$postmaster")
  q0=$(tree_ticks "$broker"); l0=$(tree_ticks "$publisher_pid"); read -r m0 i0 < <(machine_ticks)
  /usr/bin/time -f '%U %S' -o "$run/$key.$round.time" \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$@" "$url" >"$run/$key.$round.wrk"
  read -r m1 i1 < <(machine_ticks)
  printf '%s\t' "$key" "$round" "$label" "$quiet_cores" $((m1 - m0)) $((i1 - i0)) \
    $(($(tree_ticks "$server") - s0)) $(($(tree_ticks "$postmaster") - p0)) \
    $(($(tree_ticks "$broker") - q0)) $(($(tree_ticks "$publisher_pid") - l0)) >>"$rows"
  echo $(($(builds) - b0)) >>"$rows"
}

# Idle: nothing published while wrk runs; Lookout still rebuilds the page once per TTL. The
# conditional requests (`If-None-Match: *`, which both answer with 304 and no body) separate
# what a request costs from what its body does.
for round in $(seq "$rounds"); do
  wait_quiet; measure nginx "$round" "nginx, the saved file (ceiling)" "$nginx_pid" "$ceiling"
  wait_quiet; measure page "$round" "Lookout /status/$slug" "$lookout_pid" "$page"
  wait_quiet; measure json "$round" "Lookout /status/$slug.json" "$lookout_pid" "$page.json"
  wait_quiet; measure nginx-304 "$round" "nginx, 304 Not Modified" "$nginx_pid" "$ceiling" -H 'If-None-Match: *'
  wait_quiet; measure page-304 "$round" "Lookout /status/$slug, 304 Not Modified" "$lookout_pid" "$page" \
    -H 'If-None-Match: *'
done
# A ceiling whose rounds lie more than a fifth apart was disturbed by the shared machine in one of
# them: it is measured twice more, and its figures are the median of all its rounds (the report
# lists each and says so).
rps_of() { awk '/^Requests\/sec:/ {print $2}' "$run/$1.$2.wrk"; }
far_apart() { # key
  local round
  for round in $(seq "$rounds"); do rps_of "$1" "$round"; done |
    sort -g | awk 'NR == 1 {low = $1} {high = $1} END {exit !(high > 1.2 * low)}'
}
extra_rounds=
if far_apart nginx; then
  for round in $((rounds + 1)) $((rounds + 2)); do
    wait_quiet; measure nginx "$round" "nginx, the saved file (ceiling)" "$nginx_pid" "$ceiling"
  done
  extra_rounds+=" nginx"
fi
if far_apart nginx-304; then
  for round in $((rounds + 1)) $((rounds + 2)); do
    wait_quiet; measure nginx-304 "$round" "nginx, 304 Not Modified" "$nginx_pid" "$ceiling" -H 'If-None-Match: *'
  done
  extra_rounds+=" nginx-304"
fi
etag_idle=$(curl -sfS -D - -o /dev/null "$page" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')

# Under ingest: in each round the load generator publishes over all 1,000 topics (the page's
# among them) through both wrk runs; nginx is measured again so that both face the same
# competition for the two cores.
stored0=$(sql -c 'select count(*) from message')
load_secs=$((2 * (warmup + secs + 2) + 6))
for round in $(seq "$rounds"); do
  wait_quiet
  publish --rate "$rate" --count $((rate * load_secs)) --seq-base $((round * 100000000)) \
    >"$run/load.$round.json" &
  publisher_pid=$!
  started+=("$publisher_pid")
  sleep 3
  [ "$round" != 1 ] || etag_before=$(curl -sfS -D - -o /dev/null "$page" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
  measure nginx-load "$round" "nginx, the saved file, at $rate msg/s" "$nginx_pid" "$ceiling"
  measure page-load "$round" "Lookout /status/$slug at $rate msg/s" "$lookout_pid" "$page"
  wait "$publisher_pid" || die "the load generator failed"
  publisher_pid=
done
etag_after=$(curl -sfS -D - -o /dev/null "$page" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
published=$((rounds * rate * load_secs))
all_stored() { [ "$(sql -c 'select count(*) from message')" -ge $((stored0 + published)) ]; }
wait_for 60 all_stored || say "Lookout did not store every message published under load"
stored=$(($(sql -c 'select count(*) from message') - stored0))

# --- report -------------------------------------------------------------------------------------
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
nproc=$(nproc)
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
uname=$(uname -srm)
memory=$(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')
lookout_rev=$lookout_rev
rustc=$(rustc --version)
postgres=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null || echo '?')
nginx=$(nginx -v 2>&1 | sed 's|.*/||')
wrk=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')
clk=$clk
secs=$secs
warmup=$warmup
conns=$conns
threads=$threads
rounds=$rounds
rate=$rate
load_secs=$load_secs
published=$published
stored=$stored
etag_changed=$([ "$etag_before" != "$etag_after" ] && echo yes || echo no)
etag_idle_changed=$([ "$etag" != "$etag_idle" ] && echo yes || echo no)
slow_statements=$(grep -c 'slow statement' "$run/lookout-$db.log" || true)
not_modified=$not_modified
lookout_log_errors=$(grep -ci 'error' "$run/lookout-$db.log" || true)
extra_rounds=${extra_rounds# }
run_dir=$run
META
python3 "$here/report.py" "$run" "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

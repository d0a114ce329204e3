#!/usr/bin/env bash
# The boards benchmark (issue 21): a board of 50 widgets in a signed-in viewer's live view, in
# Debian's headless Chromium against the release build, first idle (the reference) and then while
# the load generator publishes BENCH_RATE msg/s to the board's own topics. Writes
# bench/results/boards.md (see its Method section); the raw measurements stay in the run
# directory. About 2 minutes plus builds and any wait for the shared machine to quieten.
#
# Knobs: BENCH_RATE (5000), BENCH_SECS (20 per step), BENCH_QUIET_WAIT_S (300), BENCH_RESULTS (the
# report's path), BENCH_RUN_DIR, LOOKOUT_REV (the commit to build, default HEAD), LOOKOUT_BIN (a
# lookout binary to use instead of building one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-boards}
rate=${BENCH_RATE:-5000}
secs=${BENCH_SECS:-20}
results=${BENCH_RESULTS:-$repo/bench/results/boards.md}
slug=bench-board
# The load goes to the topics of the board's widgets but the marker's: bench/dev-0000 … 0048.
topics=49

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- programs ---------------------------------------------------------------------------------
bench=$(build_bench "$repo/bench/ingest" ingest-bench)
build_lookout
if [ ! -d "$repo/end2end/node_modules/playwright-core" ]; then
  say "installing playwright-core into end2end/node_modules"
  (cd "$repo/end2end" && npm ci --silent)
fi

# --- the system under test ----------------------------------------------------------------------
start_postgres
db=bench_boards
psql "$(pg_url postgres)" -qc "create database $db"
sql() { psql "$(pg_url "$db")" -v ON_ERROR_STOP=1 -qAt "$@"; }
start_mosquitto mosquitto </dev/null
start_lookout "$db" lookout-bench-boards 'bench/#' "RUST_LOG=warn"
viewer=bench-viewer
password=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$password" | DATABASE_URL=$(pg_url "$db") RUST_LOG=error \
  "$lookout" user add "$viewer" --role viewer >/dev/null

say "publishing each of the board's $topics topics once"
"$bench" publish --mqtt-port "$mqtt_port" --rate 0 --count "$topics" --topics "$topics" >"$run/seed.json"
seeded() { [ "$(sql -c 'select count(*) from latest')" -ge "$topics" ]; }
wait_for 60 seeded || die "Lookout did not store the seed messages (see $run/lookout-$db.log)"

# 50 widgets, as an admin's editor would store them: the marker's value first (the page's
# freshness is measured on it), then six kinds in turn over the load's topics, and a table of
# them all last. Public, and live for every signed-in role.
sql <<SQL
insert into status_page (slug, title, description, published, public, open_to)
values ('$slug', 'Plant floor', 'Fifty widgets, every message live.', true, true, 'viewer');
insert into status_widget (page_id, position, kind, label, topic, pointer, unit, worse,
                           degraded_at, down_at, range, scale_min, scale_max)
select p.id, 0, 'value', 'Marker', 'bench/_marker', '/id', '', 'above', null, null, '24h', null, null
from status_page p where p.slug = '$slug';
insert into status_widget (page_id, position, kind, label, topic, pointer, unit, worse,
                           degraded_at, down_at, range, scale_min, scale_max)
select p.id, i + 1, k.kind, format('%s %s', k.label, i), format('bench/dev-%s', lpad(i::text, 4, '0')),
       k.pointer, k.unit, 'above', k.degraded, k.down, '24h', k.smin, k.smax
from status_page p, generate_series(0, $((topics - 2))) i,
     lateral (select * from (values
       (0, 'value',     'Temperature', '/temperature', '°C', null::float8, null::float8, null::float8, null::float8),
       (1, 'status',    'Humidity',    '/humidity',    '%',  70, 75, null, null),
       (2, 'sparkline', 'Trend',       '/temperature', '°C', null, null, null, null),
       (3, 'gauge',     'Dial',        '/humidity',    '%',  70, 75, 0, 100),
       (4, 'history',   'Chart',       '/temperature', '°C', null, null, null, null),
       (5, 'last_seen', 'Heard',       '',             '',   null, null, null, null)
     ) as v(n, kind, label, pointer, unit, degraded, down, smin, smax) where v.n = i % 6) k
where p.slug = '$slug';
insert into status_widget (page_id, position, kind, label, topic, pointer, unit, worse, range)
select p.id, $topics, 'table', 'Every sensor', 'bench/+', '/temperature', '°C', 'above', '24h'
from status_page p where p.slug = '$slug';
SQL
[ "$(sql -c "select count(*) from status_widget")" = 50 ] || die "the board does not have 50 widgets"

# --- the browser --------------------------------------------------------------------------------
say "measuring /status/$slug in Chromium: idle, then $rate msg/s, $secs s each"
BENCH_URL=http://127.0.0.1:$http_port BENCH_SLUG=$slug BENCH_USER=$viewer BENCH_PASSWORD=$password \
  BENCH_MQTT_PORT=$mqtt_port BENCH_PUBLISHER=$bench BENCH_TOPICS=$topics BENCH_RATE=$rate \
  BENCH_SECS=$secs BENCH_PIDS="lookout=$lookout_pid mosquitto=$broker postgres=$postmaster" \
  node "$here/measure.mjs" "$run/boards.json"

# --- report -------------------------------------------------------------------------------------
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
machine=$(machine)
lookout_rev=$lookout_rev
rustc=$(rustc --version)
node=$(node --version)
postgres=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto=$(mosquitto -h | head -1 | awk '{print $3}')
lookout_log_errors=$(grep -ci 'error' "$run/lookout-$db.log" || true)
META
node "$here/report.mjs" "$run/boards.json" "$run/meta" "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

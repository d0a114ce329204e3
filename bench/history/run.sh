#!/usr/bin/env bash
# The history benchmark: how long a topic's history chart takes, for every range from 15 min to
# 2 years, over a topic with 10,000,000 stored values spread over the last two years (one every
# 6.3 s), against the same chart computed from the raw rows in the same run. A private PostgreSQL
# holds the values in daily partitions and their rollups as Lookout keeps them under its default
# retention (minutes for 90 days, hours for 2 years, days); a real `lookout serve` answers, curl
# times the `topic_history` server function as a logged-in viewer, and pgbench times the raw-row
# query of the same range, buckets and bounds (the reference) and the rollup query. Writes
# bench/results/history.md.
#
# Knobs: LOOKOUT_REV / LOOKOUT_BIN (as in bench/lib.sh: the release build of a commit, default
# HEAD, or a binary), BENCH_BIG (10000000), BENCH_REPEAT (timed calls per range, 200),
# BENCH_RAW_REPEAT (timed raw-row queries per range, 10; 3 above 30 days), BENCH_RESULTS,
# BENCH_RUN_DIR. Lookout connects to a private Mosquitto; nothing is published.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-history}
big=${BENCH_BIG:-10000000}
repeat=${BENCH_REPEAT:-200}
raw_repeat=${BENCH_RAW_REPEAT:-10}
results=${BENCH_RESULTS:-$repo/bench/results/history.md}

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- the binary --------------------------------------------------------------------------------
build_lookout
profile=release

# --- PostgreSQL: a private cluster, so nothing else competes for its cache -------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=
if [ "$(id -u)" -eq 0 ]; then as_pg="runuser -u postgres --"; fi
pg_port=$(free_port 15532)
pg_data=$run/pg
mkdir -p "$pg_data"
[ -z "$as_pg" ] || chown postgres: "$run" "$pg_data"
say "starting a private PostgreSQL on port $pg_port"
$as_pg "$pgbin/initdb" -D "$pg_data" -A trust -U postgres --no-sync >"$run/initdb.log"
$as_pg "$pgbin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -o "\
  -c port=$pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pg_data \
  -c shared_buffers=256MB -c max_wal_size=2GB -c fsync=off -c synchronous_commit=off" \
  start >/dev/null
database=postgres://postgres@127.0.0.1:$pg_port/bench_history
psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -qc "create database bench_history"
sql() { psql "$database" -v ON_ERROR_STOP=1 -qAt "$@"; }

start_mosquitto /usr/sbin/mosquitto </dev/null
broker=mqtt://127.0.0.1:$mqtt_port

# --- Lookout: migrations, partitions, a viewer -----------------------------------------------
port=$(free_port 13100)
url=http://127.0.0.1:$port
say "starting $lookout ($profile) on $url"
# Raw rows kept for the whole two years, so the reference has them (and maintenance drops none).
DATABASE_URL=$database LOOKOUT_LISTEN=127.0.0.1:$port LOOKOUT_MQTT_URL=$broker \
  LOOKOUT_RETENTION_DAYS=800 \
  LOOKOUT_MQTT_CLIENT_ID=bench-history-$$ LOOKOUT_MQTT_SUBSCRIPTIONS="bench-history-$$/#" \
  LEPTOS_SITE_ROOT=$repo/target/site RUST_LOG=warn \
  "$lookout" serve >"$run/lookout.log" 2>&1 &
lookout_pid=$!
started+=("$lookout_pid")
wait_for 60 curl -sf -o /dev/null "$url/login" || die "lookout did not answer: $(cat "$run/lookout.log")"
password=bench-history-password
printf '%s\n' "$password" | DATABASE_URL=$database RUST_LOG=error "$lookout" user add bench --role viewer >/dev/null
jar=$run/cookies
curl -sf -o /dev/null -c "$jar" -H "Origin: $url" --data-urlencode name=bench \
  --data-urlencode "password=$password" --data-urlencode next=/ "$url/login"

# --- the data: the values, in daily partitions, and their rollups ------------------------------
# Inserted with SQL rather than through the broker (10 million messages would take the broker's
# pace); the rollups are computed from the rows as the writer folds them (tests/rollups.rs holds
# the writer's rollups to these same aggregates), and only where the default retention keeps them.
say "loading $big values for bench/big over two years"
load_started=$(date +%s)
sql <<SQL
do \$\$
declare day date;
begin
  for day in select generate_series(current_date - 731, current_date + 1, interval '1 day')::date loop
    execute format('create table if not exists message_%s partition of message '
                   'for values from (%L) to (%L)', to_char(day, 'YYYYMMDD'),
                   day || ' 00:00:00+00', (day + 1) || ' 00:00:00+00');
  end loop;
end \$\$;
insert into topic (name) values ('bench/big');
insert into message (topic_id, received_at, payload, kind, qos, retain, value)
select t.id, v.at, convert_to(v.value::text, 'UTF8'), 'json', 1, false, v.value
from topic t
cross join generate_series(1, $big) g
cross join lateral (
  select now() - (g::float8 / $big) * interval '730 days' as at,
         round((20 + 5 * sin(g * 6.283 / $big * 730) + random())::numeric, 3)::float8 as value
) v;
insert into latest (topic_id, received_at, payload, kind, qos, retain, value, message_count)
select distinct on (topic_id) topic_id, received_at, payload, kind, qos, retain, value,
       count(*) over (partition by topic_id)
from message order by topic_id, received_at desc;
insert into value_rollup (topic_id, series, level, bucket, count, min, max, sum, first_at,
                          first_value, last_at, last_value)
select topic_id, 0, level, date_bin(width, received_at, timestamptz 'epoch'), count(*), min(value),
       max(value), sum(value), min(received_at), (array_agg(value order by received_at))[1],
       max(received_at), (array_agg(value order by received_at desc))[1]
from message
cross join (values (1::int2, interval '1 minute', interval '90 days'),
                   (2::int2, interval '1 hour', interval '730 days'),
                   (3::int2, interval '1 day', interval '100 years')) l(level, width, kept)
where received_at >= now() - kept
group by topic_id, level, width, date_bin(width, received_at, timestamptz 'epoch');
vacuum analyze;
checkpoint;
SQL
load_secs=$(( $(date +%s) - load_started ))
# After a load of millions of rows into hundreds of partitions, autovacuum visits each of them for
# minutes: timing meanwhile would measure its competition for the two cores, not the queries.
say "waiting for autovacuum to finish with the loaded tables"
for _ in $(seq 600); do
  busy=$(sql -c "select count(*) from pg_stat_activity where backend_type = 'autovacuum worker'")
  [ "$busy" = 0 ] && break
  sleep 1
done
topic_id=$(sql -c "select id from topic where name = 'bench/big'")
rollup_rows=$(sql -c "select string_agg(level || ':' || n, ' ') from (select level, count(*) n from value_rollup group by level order by level) c")

# --- the measurements ----------------------------------------------------------------------------
ranges=(15m 1h 6h 24h 7d 30d 90d 1y 2y)
for range in "${ranges[@]}"; do
  say "timing $range"
  api=(-b "$jar" -H "Origin: $url" --data-urlencode topic=bench/big --data-urlencode "range=$range"
    "$url/api/topic_history")
  # Warm-up: the first calls after a load of millions of rows meet the cluster's background work
  # (the checkpoint's writes, autovacuum), not the query.
  for _ in $(seq 20); do curl -sf -o /dev/null "${api[@]}"; done
  for _ in $(seq "$repeat"); do
    curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "${api[@]}"
  done >"$run/api-$range.times"
  curl -sf "${api[@]}" >"$run/api-$range.json"
  # The same chart's queries, bounds and buckets as the function's answer: from the raw rows (the
  # reference) and from the rollup level Lookout reads for this range.
  read -r from_ms to_ms bucket_ms < <(python3 -c '
import json, sys
# The answer holds the chart under "history", beside the series the topic offers.
h = json.load(open(sys.argv[1]))["history"]
print(h["from_ms"], h["to_ms"], h["bucket_ms"])' "$run/api-$range.json")
  cat >"$run/raw-$range.sql" <<SQL
select date_bin($bucket_ms * interval '1 millisecond', received_at, timestamptz 'epoch'),
       min(value), max(value), avg(value), count(value)
from message
where topic_id = $topic_id and received_at >= to_timestamp($from_ms / 1000.0)
  and received_at < to_timestamp($to_ms / 1000.0) and value is not null
group by 1 order by 1;
SQL
  times=$raw_repeat
  case $range in 90d|1y|2y) times=$(( raw_repeat < 3 ? raw_repeat : 3 )) ;; esac
  (cd "$run" && pgbench -n -f "raw-$range.sql" -t "$times" -l --log-prefix="raw-$range" \
    "$database" >"raw-$range.pgbench" 2>&1) || die "pgbench failed: $(cat "$run/raw-$range.pgbench")"
done

say "writing $results"
python3 - "$run" "$results" "$big" "$repeat" "$load_secs" \
  "$(psql "$database" -qAtc 'show server_version')" "$(nproc)" "$lookout_rev" "$rollup_rows" \
  "${ranges[@]}" <<'PY'
import glob, json, statistics, sys, datetime
run, out, big, repeat, load_secs, pg, cores, rev, rollup_rows, *ranges = sys.argv[1:]
load = open("/proc/loadavg").read().split()[0]

def pick(ms, q):
    return ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))]

resolution = {"15m": "raw", "1h": "raw", "6h": "minutes", "24h": "minutes", "7d": "minutes",
              "30d": "hours", "90d": "hours", "1y": "days", "2y": "days"}
table, worst = [], 0.0
for rng in ranges:
    rows = [line.split() for line in open(f"{run}/api-{rng}.times")]
    api = sorted(float(s) * 1000 for s, _ in rows)
    size = int(rows[0][1])
    history = json.load(open(f"{run}/api-{rng}.json"))["history"]
    charted = sum(b["count"] for b in history["buckets"])
    raw = sorted(int(line.split()[2]) / 1000
                 for path in glob.glob(f"{run}/raw-{rng}.*") if not path.endswith((".sql", ".pgbench"))
                 for line in open(path))
    p99 = pick(api, .99)
    worst = max(worst, p99)
    raw_median = statistics.median(raw)
    table.append(
        f"| {rng} | {resolution[rng]} | {charted:,} | {len(history['buckets'])} | {size:,} B "
        f"| {statistics.median(api):.1f} ms | **{p99:.1f} ms** | {raw_median:,.1f} ms ({len(raw)} runs) "
        f"| **{raw_median / statistics.median(api):,.1f}×** |")

levels = dict(part.split(":") for part in rollup_rows.split())
names = {"1": "minutes", "2": "hours", "3": "days"}
rollups = ", ".join(f"{int(n):,} {names[level]}" for level, n in sorted(levels.items()))
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
verdict = ("met" if worst <= 20 else "not met")
text = f"""# History benchmark

Generated by `bench/history/run.sh` on {now} ({cores} cores, shared with other builds and
tests: load average {load} when it ended), Lookout `{rev}` (release build), PostgreSQL {pg}
(a private cluster, fsync off).

The question: does a history chart of any range from 15 minutes to 2 years answer in at most
20 ms at p99 over a topic with {int(big):,} stored values, and what would the same chart cost
from the raw rows? The values are spread evenly over the last two years (one every
{730 * 86400 / int(big):.1f} s) in daily partitions, with their rollups as Lookout keeps them
under its default retention ({rollups}); loaded in {load_secs} s with `generate_series`, then
`vacuum analyze`, a checkpoint and autovacuum's own round. A logged-in viewer asks `POST /api/topic_history` (the server function the topic
page calls) for each range, {repeat} timed calls after 20 untimed ones, one at a time, over
loopback with curl. The reference is the raw-row query of the same chart (same bounds and
buckets, the query Lookout itself runs for 15 min and 1 h) run by pgbench in the same database
right after; the ratio is its median over the function's median, whole answer included.

## Results

Goal: p99 at most 20 ms for every range: **{verdict}** (worst p99 {worst:.1f} ms).

| range | read from | values charted | buckets | answer | function median | function p99 | raw-row query median | raw / Lookout |
|---|---|---:|---:|---:|---:|---:|---:|---:|
""" + "\n".join(table) + """

## What this shows

- From 6 h on, a chart reads rollups (minutes up to 7 days, hours up to 90 days, days beyond;
  `HistoryRange::resolution`), at most a few thousand rows whatever was stored, and every
  bucket is made of whole rollups, so its minimum, maximum and count are exactly the raw rows'
  (`server/tests/rollups.rs` compares every range both ways).
- 15 min and 1 h read the raw rows: at this density a few hundred; their cost grows with the
  values in that hour, which only a topic faster than about one message a second makes large.
- The raw-row reference grows with the values in the range: what every long range cost before
  rollups.
"""
open(out, "w").write(text)
PY
bench_stamp "$results"
say "done: $results"

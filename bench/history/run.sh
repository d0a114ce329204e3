#!/usr/bin/env bash
# The history benchmark: how long the topic page's history takes for a topic with 1,000,000
# stored values against one with 100. A private PostgreSQL gets both topics (values spread over
# the last 24 hours), a real `lookout serve` answers, and curl times the `topic_history` server
# function and the whole server-rendered page, as a logged-in viewer. Writes
# bench/results/history.md.
#
# Knobs: LOOKOUT_REV / LOOKOUT_BIN (as in bench/lib.sh: the release build of a commit, default
# HEAD, or a binary), BENCH_BIG (1000000), BENCH_SMALL (100), BENCH_REPEAT (timed calls per case,
# 30), BENCH_RESULTS, BENCH_RUN_DIR. Lookout connects to a private Mosquitto; nothing is published.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-history}
big=${BENCH_BIG:-1000000}
small=${BENCH_SMALL:-100}
repeat=${BENCH_REPEAT:-30}
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
# auto_explain stays off until the end, when it records the plans of one call per case. Set in
# the file, not with -c: `alter system` cannot override the command line.
cat >>"$pg_data/postgresql.conf" <<CONF
shared_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = -1
CONF
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
DATABASE_URL=$database LOOKOUT_LISTEN=127.0.0.1:$port LOOKOUT_MQTT_URL=$broker \
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

# --- the data: each topic's values spread evenly over the last 24 h, stored as ingest stores them
say "loading $big values for bench/big and $small for bench/small"
load_started=$(date +%s)
sql <<SQL
insert into topic (name) values ('bench/big'), ('bench/small');
insert into message (topic_id, received_at, payload, kind, qos, retain, value)
select t.id, v.at, convert_to(v.value::text, 'UTF8'), 'json', 1, false, v.value
from topic t
cross join lateral (select case t.name when 'bench/big' then $big else $small end as n) size
cross join lateral generate_series(1, size.n) g
cross join lateral (
  select now() - (g::float8 / size.n) * interval '24 hours' as at,
         round((20 + 5 * sin(g * 6.283 / size.n * 24) + random())::numeric, 3)::float8 as value
) v;
insert into latest (topic_id, received_at, payload, kind, qos, retain, value, message_count)
select distinct on (topic_id) topic_id, received_at, payload, kind, qos, retain, value,
       count(*) over (partition by topic_id)
from message order by topic_id, received_at desc;
vacuum analyze;
SQL
load_secs=$(( $(date +%s) - load_started ))

# --- the measurements ----------------------------------------------------------------------------
# One line per call: seconds and bytes.
time_calls() {
  local what=$1; shift
  for _ in 1 2 3; do curl -sf -o /dev/null "$@"; done # warm-up
  for _ in $(seq "$repeat"); do
    curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "$@"
  done >"$run/$what.times"
}
cases=()
for topic in bench/big bench/small; do
  for range in 24h 1h; do
    name=${topic#bench/}-$range
    say "timing $name"
    api=(-b "$jar" -H "Origin: $url" --data-urlencode "topic=$topic" --data-urlencode "range=$range"
      "$url/api/topic_history")
    time_calls "api-$name" "${api[@]}"
    curl -sf "${api[@]}" >"$run/api-$name.json"
    time_calls "page-$name" -b "$jar" "$url/topic/$topic?range=$range"
    cases+=("$topic $range $name")
  done
done

# The plans PostgreSQL chose, with their actual row counts and timings.
sql -c "alter system set auto_explain.log_min_duration = 0" \
  -c "alter system set auto_explain.log_analyze = on" -c "alter system set auto_explain.log_buffers = on" \
  -c "select pg_reload_conf()" >/dev/null
sleep 1
for range in 24h 1h; do
  curl -sf -o /dev/null -b "$jar" -H "Origin: $url" --data-urlencode topic=bench/big \
    --data-urlencode "range=$range" "$url/api/topic_history"
done
sleep 1

say "writing $results"
python3 - "$run" "$results" "$profile" "$big" "$small" "$repeat" "$load_secs" \
  "$(psql "$database" -qAtc 'show server_version')" "$(nproc)" "$lookout_rev" \
  "${cases[@]}" <<'PY'
import json, re, statistics, sys, datetime
run, out, profile, big, small, repeat, load_secs, pg, cores, rev, *cases = sys.argv[1:]
load = open("/proc/loadavg").read().split()[0]

def times(name):
    rows = [line.split() for line in open(f"{run}/{name}.times")]
    ms = sorted(float(s) * 1000 for s, _ in rows)
    return ms, int(rows[0][1])

def p(ms, q):
    return ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))]

table, medians = [], {}
for case in cases:
    topic, rng, name = case.split()
    api, api_bytes = times(f"api-{name}")
    page, page_bytes = times(f"page-{name}")
    history = json.load(open(f"{run}/api-{name}.json"))
    buckets = len(history["buckets"])
    charted = sum(b["count"] for b in history["buckets"])
    medians[(topic, rng)] = (statistics.median(api), statistics.median(page))
    table.append(
        f"| `{topic}` | {rng} | {charted:,} | {buckets} | {api_bytes:,} B "
        f"| **{statistics.median(api):.1f} ms** | {p(api, .9):.1f} ms "
        f"| {page_bytes:,} B | **{statistics.median(page):.1f} ms** | {p(page, .9):.1f} ms |")

ratios = []
for rng in ("24h", "1h"):
    (a_big, p_big), (a_small, p_small) = medians[("bench/big", rng)], medians[("bench/small", rng)]
    ratios.append(f"- **{rng}**: history function {a_big:.1f} / {a_small:.1f} ms = "
                  f"**{a_big / a_small:.1f}×**; whole page {p_big:.1f} / {p_small:.1f} ms = "
                  f"**{p_big / p_small:.1f}×**.")

log = open(f"{run}/pg/server.log", encoding="utf-8", errors="replace").read()
plans = []
for block in re.split(r"\n(?=\S.*LOG:  duration:)", log):
    if "date_bin" in block and "Query Text" in block:
        lines = block.splitlines()
        plan = "\n".join(l for l in lines if not l.lstrip().startswith("Query Text"))
        plans.append(plan)

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = f"""# History benchmark

Generated by `bench/history/run.sh` on {now} ({cores} cores, shared with other builds and
tests: load average {load} when it ended), Lookout `{rev}` ({profile} build), PostgreSQL {pg}
(a private cluster, fsync off).

The question: does the topic page's history chart cost the same for a topic with {int(big):,}
stored values as for one with {int(small):,}? Both topics hold numeric values spread evenly over
the last 24 hours (loaded in {load_secs} s with `generate_series`, then `vacuum analyze`). A
logged-in viewer asks `POST /api/topic_history` (the server function the page calls) and `GET
/topic/<name>?range=...` (the whole server-rendered page: latest value, chart SVG and the first
page of the message log), {repeat} timed calls each after 3 untimed ones, one at a time, over
loopback with curl.

## Results

| topic | range | values in range | buckets | function response | function median | function p90 | page size | page median | page p90 |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
""" + "\n".join(table) + f"""

Ratios, {int(big):,}-value topic over {int(small):,}-value topic (medians):

""" + "\n".join(ratios) + """

## What this shows

- What travels to the browser and what it draws is bounded by the bucket count (at most 500),
  not by the number of values: a million values in range come back as at most 500 buckets, a
  response and a page of the same size as for a topic with 500 values; the 100-value topic's
  are smaller only because it has fewer non-empty buckets.
- The server's work is not constant: PostgreSQL reads every value in the range once and sorts
  the rows by bucket before aggregating (`date_bin` over the `(topic_id, received_at)` index; see
  the plans below, where the sort of a million rows spills to disk at the default `work_mem`), so
  the time grows with the values *in the selected range*, roughly linearly: compare the 1 h and
  24 h rows of `bench/big`. A range over a million values takes about half a second here.
- The small topic's times are mostly Lookout's own (HTTP, the session, the access check,
  serialisation) in a """ + profile + """ build; a release build lowers them and so raises the ratios.
- Making long ranges independent of the number of values needs pre-aggregation, e.g. a rollup
  table of per-minute min/max/sum/count kept by the writer and read for ranges of 6 h and more
  (at most 43,200 rows per topic for 30 days).

## Plans (auto_explain, one call each for `bench/big`)

""" + "\n\n".join(f"```\n{plan.strip()}\n```" for plan in plans) + "\n"
open(out, "w").write(text)
PY
bench_stamp "$results"
say "done: $results"

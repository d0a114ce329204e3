#!/usr/bin/env bash
# Lighthouse scores (performance, accessibility, best practices, SEO) of the pages people judge
# Lookout by (issue 18): a public status page (anonymous, no wasm), the overview and a topic page
# (signed in, hydrated). Lighthouse 12 from npm (installed into $LOOKOUT_TOOLS/lighthouse), in
# Debian's Chromium, on the release binary bench/build.sh builds of LOOKOUT_REV (default HEAD).
# The reference, measured in the same run with the same settings, is a plain static HTML page
# (bench/lighthouse/reference.html) served by Python's http.server: what a page costs when it
# does nothing at all. Writes bench/results/lighthouse.md. About 5 minutes plus builds.
#
# Knobs: BENCH_LIGHTHOUSE_RUNS (3; the median of each score is reported), BENCH_RESULTS,
# BENCH_RUN_DIR. Mobile (Lighthouse's default emulation and throttling) and desktop presets both.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-lighthouse}
runs=${BENCH_LIGHTHOUSE_RUNS:-3}
results=${BENCH_RESULTS:-$repo/bench/results/lighthouse.md}
tools=${LOOKOUT_TOOLS:-/var/cache/lookout-tools}
LIGHTHOUSE_VERSION=12.8.2 # the last major that runs on Debian's Node.js 20

rm -rf "$run"
mkdir -p "$run"
# shellcheck source=../lib.sh
. "$here/../lib.sh"

if [ "$("$tools/lighthouse/node_modules/.bin/lighthouse" --version 2>/dev/null)" != "$LIGHTHOUSE_VERSION" ]; then
  say "installing lighthouse@$LIGHTHOUSE_VERSION from npm into $tools/lighthouse"
  mkdir -p "$tools/lighthouse"
  [ -f "$tools/lighthouse/package.json" ] || echo '{"private":true}' >"$tools/lighthouse/package.json"
  (cd "$tools/lighthouse" && npm install --silent --no-audit --no-fund "lighthouse@$LIGHTHOUSE_VERSION")
fi
lighthouse=$tools/lighthouse/node_modules/.bin/lighthouse

build_lookout
start_postgres
psql "$(pg_url postgres)" -qc "create database lighthouse"
start_mosquitto /usr/sbin/mosquitto </dev/null
start_lookout lighthouse lighthouse-bench 'plant/#'
base=http://127.0.0.1:$http_port

# Some history for the charts: an hour of readings a minute apart, arriving now (Lookout stamps
# them on receipt), then the latest values.
for minute in $(seq 60); do
  mosquitto_pub -p "$mqtt_port" -t plant/boiler/temperature -m "$((60 + minute % 7)).5" -q 1
done
mosquitto_pub -p "$mqtt_port" -t plant/boiler -m '{"temp":71.5,"pressure":1.2}' -q 1
mosquitto_pub -p "$mqtt_port" -t plant/pump/status -m online -q 1 -r

# An admin, and a published status page built through the editor's forms, as an admin would.
password=lighthouse-bench-password
printf '%s\n' "$password" | DATABASE_URL=$(pg_url lighthouse) RUST_LOG=error "$lookout" user add chief --role admin >/dev/null
jar=$run/cookies
post() { # path, form fields...
  local path=$1; shift
  local fields=()
  for field in "$@"; do fields+=(--data-urlencode "$field"); done
  curl -sS -o /dev/null -w '%{redirect_url}' -b "$jar" -c "$jar" -H "Origin: $base" "${fields[@]}" "$base$path"
}
post /login name=chief "password=$password" >/dev/null
session=$(awk '$6 == "lookout_session" {print $7}' "$jar")
[ -n "$session" ] || die "logging in failed"
post /admin/rules/add role=public filter='plant/#' permission=read >/dev/null
editor=$(post /admin/pages/add slug=plant title='Plant 7' description='Boiler house and pumps' published=on)
page_id=$(sed -n 's|.*/admin/pages/\([0-9]*\).*|\1|p' <<<"$editor")
[ -n "$page_id" ] || die "creating the status page failed ($editor)"
widget() { post /admin/pages/widgets/add "page=$page_id" "$@" >/dev/null; }
widget kind=value label=Boiler topic=plant/boiler pointer=/temp unit=°C
widget kind=status label='Boiler health' topic=plant/boiler pointer=/temp degraded_at=80 down_at=90
widget kind=sparkline label=Temperature topic=plant/boiler/temperature unit=°C
widget kind=history label='Temperature history' topic=plant/boiler/temperature unit=°C
widget kind=table label='Everything' topic='plant/#'
post /admin/pages/change "id=$page_id" slug=plant title='Plant 7' description='Boiler house and pumps' published=on public=on open_to=viewer >/dev/null
curl -fsS -o /dev/null "$base/status/plant" || die "the status page is not served"

# The reference: a plain page of similar content, served statically.
reference_port=$(free_port 18000)
(cd "$here" && exec python3 -m http.server "$reference_port" --bind 127.0.0.1 >"$run/reference.log" 2>&1) &
started+=("$!")
wait_for 15 port_open "$reference_port" || die "the reference server did not start"

chrome_flags="--headless --no-sandbox --disable-gpu --disable-background-networking"
# Prints the four scores (0-100) of one Lighthouse run, space-separated.
score() { # url, preset (mobile|desktop), cookie or ""
  local out=$run/report-$RANDOM.json preset=()
  [ "$2" = desktop ] && preset=(--preset=desktop)
  local headers=()
  [ -z "$3" ] || headers=(--extra-headers "{\"Cookie\":\"lookout_session=$3\"}")
  CHROME_PATH=/usr/bin/chromium "$lighthouse" "$1" --quiet --output=json --output-path="$out" \
    --chrome-flags="$chrome_flags" "${preset[@]}" "${headers[@]}" \
    --only-categories=performance,accessibility,best-practices,seo >/dev/null 2>>"$run/lighthouse.log" ||
    die "lighthouse failed on $1 (see $run/lighthouse.log)"
  python3 - "$out" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
cats = report["categories"]
print(" ".join(str(round(100 * (cats[c]["score"] or 0))) for c in ("performance", "accessibility", "best-practices", "seo")))
PY
}
# The median of each score over the runs.
median_scores() { # url, preset, cookie
  local lines=()
  for _ in $(seq "$runs"); do lines+=("$(score "$@")"); done
  printf '%s\n' "${lines[@]}" | python3 -c '
import sys, statistics
rows = [list(map(int, line.split())) for line in sys.stdin if line.strip()]
print(" ".join(str(round(statistics.median(column))) for column in zip(*rows)))'
}

pages=(
  "status page (anonymous)|$base/status/plant|"
  "overview (signed in)|$base/|$session"
  "topic page (signed in)|$base/topic/plant/boiler/temperature|$session"
  "reference: static HTML|http://127.0.0.1:$reference_port/reference.html|"
)
declare -A scores
for preset in mobile desktop; do
  for entry in "${pages[@]}"; do
    IFS='|' read -r name url cookie <<<"$entry"
    say "lighthouse ($preset): $name"
    scores["$preset|$name"]=$(median_scores "$url" "$preset" "$cookie")
  done
done

{
  echo "# Lighthouse scores"
  echo
  echo "Lighthouse $LIGHTHOUSE_VERSION in Debian's Chromium ($(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')),"
  echo "median of $runs runs per page and preset, measured by \`bench/lighthouse/run.sh\`. The"
  echo "reference is a static HTML page served by Python's http.server in the same run. Goal"
  echo "(issue 18): at least 95 in every category on the status page, the overview and the topic page."
  for preset in mobile desktop; do
    echo
    echo "## $preset"
    echo
    echo "| page | performance | accessibility | best practices | SEO |"
    echo "| --- | --- | --- | --- | --- |"
    for entry in "${pages[@]}"; do
      IFS='|' read -r name _ _ <<<"$entry"
      read -r perf a11y best seo <<<"${scores["$preset|$name"]}"
      echo "| $name | $perf | $a11y | $best | $seo |"
    done
  done
} >"$results"
bench_stamp "$results"
say "wrote $results"
cat "$results"

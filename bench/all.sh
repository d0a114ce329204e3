#!/usr/bin/env bash
# Every benchmark, against one commit: builds that commit's release binary once (bench/build.sh:
# `git archive` of the commit, its own scripts/release.sh, a target directory of the benchmarks'
# own), then runs each bench/<name>/run.sh against that binary. Each results file is stamped with
# the commit, the machine and the date (bench/lib.sh, bench_stamp); its figures are the report's
# own. A benchmark that fails is reported at the end and the others still run.
#
#   bench/all.sh [COMMIT]      (default HEAD of the repository this script is in)
#
# Knobs: BENCH_ONLY / BENCH_SKIP (names, space-separated: ingest live alerts pages explorer boards
# history footprint scale lighthouse), BENCH_RESULTS_DIR (where the results files go, default bench/results),
# BENCH_TARGET_DIR (bench/build.sh's). Each benchmark's own knobs pass through.
set -uo pipefail
# Read whole before it runs (bash reads a script as it goes): a checkout or an edit meanwhile
# cannot change what a running build or run does.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
all=(ingest live alerts pages explorer boards history footprint scale lighthouse)
names=(${BENCH_ONLY:-${all[*]}})
skip=" ${BENCH_SKIP:-} "
results_dir=${BENCH_RESULTS_DIR:-$repo/bench/results}
target=${BENCH_TARGET_DIR:-/var/tmp/lookout-bench-target}
logs=/var/tmp/lookout-bench-all
say() { printf '\033[1mbench all:\033[0m %s\n' "$*" >&2; }

commit=$(git -C "$repo" rev-parse --verify --quiet "${1:-HEAD}^{commit}") ||
  { say "${1:-HEAD} is not a commit of $repo"; exit 1; }
short=$(git -C "$repo" rev-parse --short "$commit")
for name in "${names[@]}"; do
  [ -x "$here/$name/run.sh" ] || { say "no benchmark $name (bench/$name/run.sh)"; exit 1; }
done
selected=()
for name in "${names[@]}"; do [[ $skip == *" $name "* ]] || selected+=("$name"); done

# The benchmarks' scripts are the working tree's; say so when they are not the commit's.
scripts="as in $short"
if ! git -C "$repo" diff --quiet "$commit" -- bench ||
  [ -n "$(git -C "$repo" ls-files --others --exclude-standard -- bench)" ]; then
  scripts="the working tree's, which differ from $short"
fi

# --- the estimate: each benchmark's last duration on this machine, or a first guess -----------
durations=$target/durations
mkdir -p "$target" "$logs" "$results_dir"
touch "$durations"
tail -n 200 "$durations" >"$durations.new" && mv "$durations.new" "$durations"
declare -A guess=([build]=1200 [ingest]=720 [live]=600 [alerts]=600 [pages]=900 [explorer]=300 [boards]=240 [history]=180
  [footprint]=240 [scale]=420 [lighthouse]=420)
last() { awk -v n="$1" '$1 == n { s = $2 } END { print s }' "$durations"; }
estimate() { local s; s=$(last "$1"); echo "${s:-${guess[$1]}}"; }
mins() { echo "$((($1 + 59) / 60)) min"; }
if "$here/build.sh" --built "$commit"; then
  build_estimate=0 build_note="built already"
elif [ -d "$target/lookout/release" ]; then
  build_estimate=$(estimate build) build_note="about $(mins "$(estimate build)"), as the last build here"
else
  build_estimate=${guess[build]} build_note="about $(mins "${guess[build]}") from cold"
fi
total=$build_estimate
for name in "${selected[@]}"; do total=$((total + $(estimate "$name"))); done
say "commit $short, benchmarks: ${selected[*]} (scripts $scripts)"
say "estimated time: about $(mins "$total") (the build: $build_note; each benchmark as long as it last took here, or a first guess)"
say "machine: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"

# --- the binary ---------------------------------------------------------------------------------
if ! built=$("$here/build.sh" "$commit"); then
  say "Lookout $short did not build: nothing was measured"
  exit 1
fi

export LOOKOUT_BIN=$built/lookout LOOKOUT_SITE=$built/site LOOKOUT_REV=$commit
export BENCH_ALL_RUN
BENCH_ALL_RUN="$(date -u '+%Y-%m-%d %H:%M UTC') on $short"

# --- the benchmarks, one after another ----------------------------------------------------------
# Each in a process group of its own, so that one that hangs past four times its estimate (at
# least two hours: the pages benchmark may wait minutes for a quiet machine before each step) can
# be stopped with everything it started; its own exit trap then stops its private services.
# Interrupting this script stops the running one the same way.
declare -A outcome
current= watchdog=
trap '[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null
  [ -z "$current" ] || kill -TERM -- "-$current" 2>/dev/null; exit 130' INT TERM
for name in "${selected[@]}"; do
  log=$logs/$name.log
  limit=$(($(estimate "$name") * 4))
  [ "$limit" -ge 7200 ] || limit=7200
  say "$name: started $(date -u +%H:%M) UTC, about $(mins "$(estimate "$name")") (log: $log)"
  started=$SECONDS
  BENCH_RESULTS=$results_dir/$name.md setsid "$here/$name/run.sh" >"$log" 2>&1 </dev/null &
  current=$!
  (
    sleep "$limit" &
    sleeper=$!
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper"
    echo "bench/all.sh: stopped after $(mins "$limit")" >>"$log"
    kill -TERM -- "-$current" 2>/dev/null
  ) &
  watchdog=$!
  wait "$current"
  status=$?
  kill "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
  current= watchdog=
  took=$((SECONDS - started))
  if [ "$status" -eq 0 ]; then
    echo "$name $took" >>"$durations"
    outcome[$name]="done in $(mins "$took"): $results_dir/$name.md"
  else
    outcome[$name]="FAILED (exit $status after $(mins "$took")): $(tail -1 "$log" | sed 's/\x1b\[[0-9;]*m//g')"
  fi
  say "$name: ${outcome[$name]}"
done

# --- summary ------------------------------------------------------------------------------------
say "summary for Lookout $short (logs in $logs):"
failed=0
for name in "${selected[@]}"; do
  printf '  %-10s %s\n' "$name" "${outcome[$name]}" >&2
  [[ ${outcome[$name]} != FAILED* ]] || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || { say "$failed of ${#selected[@]} benchmarks failed"; exit 1; }

exit
}

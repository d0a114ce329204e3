#!/usr/bin/env bash
# Scale-out benchmark: stored msg/s of one Lookout and of two Lookout instances in one shared
# subscription group (docs/scaling.md), in the same run, on one private Mosquitto and one private
# PostgreSQL. Each round runs every setup once, in turn, so drift of the machine hits all alike;
# the report takes each setup's median and divides by the single instance's (a ratio).
#
# Each setup gets a short paced step (to warm up and to learn its rate) and then a flat-out burst
# published as fast as the broker acknowledges (the ingest benchmark's driver, bench/ingest);
# stored msg/s is distinct messages over the time from the first publish to the last commit.
#
# Knobs: BENCH_ROUNDS (3), BENCH_BURST (200000 messages), BENCH_RATE (40000, the paced step),
# LOOKOUT_REV / LOOKOUT_BIN (as in bench/lib.sh). Writes bench/results/scale.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
run=${BENCH_RUN_DIR:-/var/tmp/lookout-bench-scale}
rounds=${BENCH_ROUNDS:-3}
burst=${BENCH_BURST:-200000}
rate=${BENCH_RATE:-40000}
results=${BENCH_RESULTS:-$repo/bench/results/scale.md}

# shellcheck source=../lib.sh
. "$here/../lib.sh"

bench=$(build_bench "$repo/bench/ingest" ingest-bench)
build_lookout
rm -rf "$run"
mkdir -p "$run"

# Commit timestamps: the driver reads when each message was committed.
start_postgres -c fsync=on -c synchronous_commit=on -c track_commit_timestamp=on
start_mosquitto mosquitto </dev/null

# The setups, by name: how many instances, and the settings they share.
setups=("single" "group-of-1" "group-of-2")
declare -A instances=([single]=1 [group-of-1]=1 [group-of-2]=2)
declare -A described=(
  [single]="one instance, default settings (no group)"
  [group-of-1]="one instance in a shared group (shared subscription + its live feed connection)"
  [group-of-2]="two instances in one shared group"
)

# Runs setup $1 in round $2; leaves the driver's JSON in $run/$1-$2.json.
measure() {
  local setup=$1 round=$2 db="bench_${1//-/_}_$2" group="" pids=() i
  psql "$(pg_url postgres)" -qc "create database $db"
  [ "$setup" = single ] || group="LOOKOUT_MQTT_SHARED_GROUP=bench-$round-$setup"
  for i in $(seq "${instances[$setup]}"); do
    # Each instance its own client id; migrations and partitions are made by whichever is first.
    start_lookout "$db" "lookout-$setup-$round-$i" 'bench/#' "$group"
    pids+=("$lookout_pid")
  done
  say "round $round: $setup (${described[$setup]})"
  # CPU and RSS in the report are the first instance's; the stored rate is everyone's.
  "$bench" ladder --system "$setup" --mqtt-port "$mqtt_port" --broker-pid "$broker" \
    --database-url "$(pg_url "$db")" --pid "${pids[0]}" --postmaster-pid "$postmaster" \
    --rates "$rate" --step-secs 5 --refine 0 --burst "$burst" --clk-tck "$(getconf CLK_TCK)" \
    --out "$run/$setup-$round.json" >"$run/$setup-$round.log" 2>&1 \
    || die "the driver failed on $setup (see $run/$setup-$round.log)"
  for i in "${pids[@]}"; do stop "$i"; done
}

for round in $(seq "$rounds"); do
  for setup in "${setups[@]}"; do measure "$setup" "$round"; done
done

# The reference (the single instance) with rounds more than a fifth apart was disturbed by the
# shared machine in one of them: it runs twice more, and the report takes the median of all its
# rounds and says so.
single_rates() {
  python3 -c 'import json, sys
for path in sys.argv[1:]:
    print(json.load(open(path))["burst"]["stored_rate"])' "$run"/single-*.json
}
if single_rates | sort -g | awk 'NR == 1 {low = $1} {high = $1} END {exit !(high > 1.2 * low)}'; then
  say "the single instance's rounds lie more than a fifth apart: two more"
  for round in $((rounds + 1)) $((rounds + 2)); do measure single "$round"; done
fi

# --- report -------------------------------------------------------------------------------------
cat >"$run/meta" <<META
date=$(date -u '+%Y-%m-%d %H:%M UTC')
machine=$(nproc) cores, $(uname -srm)
lookout=$lookout_rev
postgres=$("$pgbin/postgres" --version | awk '{print $3}')
mosquitto=$(mosquitto -h | head -1 | awk '{print $3}')
rounds=$rounds
run=$run
META
python3 "$here/report.py" "$run" "$results"
bench_stamp "$results"
say "wrote $results (raw results in $run)"

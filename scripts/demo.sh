#!/usr/bin/env bash
# Starts Lookout with demo data: installs what is missing, starts PostgreSQL and Mosquitto if they
# are down, builds, runs `lookout serve`, publishes sample readings every few seconds, and prints
# the URL to open. Ctrl-C stops it all.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

prepare_machine

say "building (the first build takes a few minutes)"
cargo leptos build

export DATABASE_URL=${DATABASE_URL:-$(database_url lookout)}
export LOOKOUT_LISTEN=${LOOKOUT_LISTEN:-127.0.0.1:3000}
export LEPTOS_SITE_ROOT=$root/target/site
export RUST_LOG=${RUST_LOG:-info}

lookout=$CARGO_TARGET_DIR/debug/lookout

# The dashboard needs a login. The demo's admin gets a fresh random password on every run, printed
# below: simpler than remembering one, and a demo database holds nothing worth more.
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
if "$lookout" user list 2>/dev/null | awk 'NR > 1 { print $1 }' | grep -qx admin; then
  printf '%s\n' "$password" | RUST_LOG=error "$lookout" user passwd admin >/dev/null
else
  printf '%s\n' "$password" | RUST_LOG=error "$lookout" user add admin --role admin >/dev/null
fi

"$lookout" serve &
server=$!
publisher=
trap 'kill $server $publisher 2>/dev/null || true' EXIT INT TERM

wait_for 60 curl -fsS "http://$LOOKOUT_LISTEN/login" || die "lookout did not start; see its messages above"

broker=${LOOKOUT_MQTT_URL#mqtt://}
host=${broker%:*}
port=${broker##*:}
# Sample devices until `lookout demo` brings its own simulation: a weather station, a server's
# health figures and a door.
(
  tick=0
  while true; do
    tick=$((tick + 1))
    pub() { mosquitto_pub -h "$host" -p "$port" -q 1 -t "$1" -m "$2"; }
    pub demo/weather/temperature "$(awk -v t=$tick 'BEGIN { printf "%.1f", 18 + 4 * sin(t / 10) }')"
    pub demo/weather/humidity "$(( 55 + tick % 7 ))"
    pub demo/server/web-1/health "{\"load\": 0.$(( 20 + tick % 60 )), \"status\": \"ok\"}"
    pub demo/door/front "$([ $((tick / 6 % 2)) -eq 0 ] && echo closed || echo open)"
    sleep 5
  done
) &
publisher=$!

say "Lookout is running: open http://$LOOKOUT_LISTEN/ and log in as admin with the password $password  (Ctrl-C stops it)"
wait $server

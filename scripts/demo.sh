#!/usr/bin/env bash
# Starts the Lookout demo: installs what is missing, builds, and runs `lookout demo` (an MQTT broker
# inside the process, simulated devices, an admin and a public status page), which prints the URLs
# to open and, on its first run, the admin's password. Ctrl-C stops it. Arguments go to
# `lookout demo` (`--listen 0.0.0.0:3000`, say; `--help` lists them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

"$root/scripts/bootstrap.sh"
# The machine's PostgreSQL rather than the demo's private cluster: `lookout user ...` reaches it
# whether or not the demo runs, and ensure_postgres knows how to get in on a fresh Debian machine
# (password logins over TCP). The demo brings its own broker, so Mosquitto is not needed.
ensure_postgres

say "building (the first build takes a few minutes)"
cargo leptos build --split

export DATABASE_URL=${DATABASE_URL:-$(database_url lookout)}
export LEPTOS_SITE_ROOT=$root/target/site

exec "$CARGO_TARGET_DIR/debug/lookout" demo "$@"

#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs what is missing, starts
# PostgreSQL and Mosquitto if they are down, builds the site and the binary, then runs the Rust
# tests (unit and integration, against the real database and broker) and the browser tests (the
# real binary in Debian's Chromium, and the release binary alone in an empty directory). Also
# fails on formatting or clippy findings.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

prepare_machine

# Databases left by earlier runs (each test makes its own).
for db in $(psql "$LOOKOUT_PG_ADMIN_URL" -Atqc "select datname from pg_database where datname like 'lookout_test_%'"); do
  psql "$LOOKOUT_PG_ADMIN_URL" -qc "drop database if exists \"$db\" with (force)" >/dev/null || true
done

say "checking formatting, lints and the app's layers"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The browser's build too: code only the hydrate side compiles has warnings of its own.
cargo clippy -p frontend --lib --target wasm32-unknown-unknown --no-default-features --quiet -- -D warnings
# No module of app/src uses a layer above its own (docs/architecture.md).
python3 "$root/scripts/check-layers.py"
"$root/scripts/prepare-queries.sh" --check

say "building the site and the binary"
# --split: the wasm is split where the app marks lazily loaded pages (app/src/lib.rs); without
# it those pages would ask for a loader that was never built.
cargo leptos build --split

say "running the Rust tests"
cargo test -p app -p lookout

say "building the release binary with the site inside (scripts/release.sh)"
"$root/scripts/release.sh"
export LOOKOUT_RELEASE_BIN=$root/dist/lookout

say "running the browser tests"
(cd end2end && { { [ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ]; } || npm ci --silent --no-audit --no-fund; } && node --test --test-concurrency=1 tests/)

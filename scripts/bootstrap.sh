#!/usr/bin/env bash
# Installs every tool Lookout needs to build and test, checking first so a machine that already
# has them loses no time. Only package registries are used (the Rust crate registry, npm, Debian): cargo-leptos
# would otherwise download wasm-bindgen and wasm-opt from a code hosting site, which these machines cannot reach.
# Callers put "$LOOKOUT_TOOLS/node_modules/.bin" on PATH afterwards (scripts/lib.sh does).
set -euo pipefail

# Build tools from npm live outside the clone so a fresh clone in CI reuses them.
tools=${LOOKOUT_TOOLS:-/var/cache/lookout-tools}

# These must match Cargo.lock: the wasm-bindgen CLI has to equal the wasm-bindgen crate exactly.
CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130
# sqlx-cli writes and checks the queries' descriptions in .sqlx/ (scripts/prepare-queries.sh); its
# version is the sqlx crate's, so both describe queries alike.
SQLX_CLI_VERSION=0.8.6
BINARYEN_VERSION=132

log() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }

apt_updated=
# Installs the Debian package for each command that is missing: a machine whose Node.js came from
# elsewhere (with its own npm) must not get Debian's npm on top of it, which conflicts.
need_commands() {
  local missing=()
  while [ $# -gt 0 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# System packages: the database, the broker, the browser, and what the scripts themselves use
# (openssl makes the tests' certificate authority for the TLS broker tests, aiosmtpd is the mail
# server e-mail alerts are sent to in the tests).
# Debian keeps the PostgreSQL server binaries out of PATH, so pg_ctlcluster stands for them.
need_commands pg_ctlcluster postgresql psql postgresql-client \
  mosquitto mosquitto mosquitto_pub mosquitto-clients \
  chromium chromium node nodejs npm npm curl curl cc gcc pkg-config pkg-config openssl openssl \
  aiosmtpd python3-aiosmtpd

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  log "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
    || { echo "bootstrap: cannot install Rust; install it with rustup (https://rustup.rs) and rerun" >&2; exit 1; }
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

installed_version() { "$1" --version 2>/dev/null | awk '{print $2}'; }

if [ "$(installed_version cargo-leptos)" != "$CARGO_LEPTOS_VERSION" ]; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (a few minutes, once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --quiet
fi

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lock file names a dependency version that the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
fi

if [ "$(installed_version sqlx)" != "$SQLX_CLI_VERSION" ]; then
  log "installing sqlx-cli $SQLX_CLI_VERSION (a few minutes, once)"
  cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --no-default-features \
    --features rustls,postgres --locked --quiet
fi

# wasm-opt for release builds: Debian's binaryen is too old for cargo-leptos. (The browser tests'
# playwright-core is an ordinary dependency of end2end/, installed from its lock file.)
if [ "$("$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | awk '{print $3}')" != "$BINARYEN_VERSION" ]; then
  log "installing binaryen@$BINARYEN_VERSION (wasm-opt) into $tools"
  mkdir -p "$tools"
  (cd "$tools" && npm install --silent --no-audit --no-fund --no-save "binaryen@$BINARYEN_VERSION" >/dev/null)
fi

log "tools ready"

#!/usr/bin/env bash
# Builds the one file to deploy: dist/lookout, the release server with the site (wasm, JS, CSS,
# assets) inside it, so `lookout serve` needs nothing beside it but its settings. A cold build
# takes 15 minutes or more on two cores; later ones rebuild only what changed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

"$root/scripts/bootstrap.sh"

# A site root of its own: the debug site under target/site stays what `cargo leptos watch` and
# the browser tests serve.
export LEPTOS_SITE_ROOT=target/release-site
# Type-erased views: the wasm bundle is a quarter smaller (bench/results/footprint.md). The server
# must be built the same way, or its markup and the bundle's would disagree at hydration. Debug
# builds do without (`disable-erase-components` in Cargo.toml), so `cargo test` shares their work.
export RUSTFLAGS="--cfg erase_components"
say "building the site (release wasm, split and optimised with wasm-opt)"
# Emptied first: the binary embeds every file here, and a chunk of an earlier split would ride along.
rm -rf "$LEPTOS_SITE_ROOT/pkg"
# --split: the pages the app marks as loaded when opened become chunks of their own (app/src/lib.rs).
cargo leptos build --release --split --frontend-only
say "building the server with the site inside"
LOOKOUT_EMBED_SITE="$root/$LEPTOS_SITE_ROOT" cargo leptos build --release --server-only

mkdir -p dist
cp "$CARGO_TARGET_DIR/release/lookout" dist/lookout
say "built $root/dist/lookout ($(du -h dist/lookout | cut -f1)); run it anywhere: dist/lookout serve"

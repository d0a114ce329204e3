#!/usr/bin/env bash
# Builds one commit's release binary, with the site inside, the way that commit's own
# scripts/release.sh builds it, from a clean `git archive` of the commit: never from a working
# tree, which people edit while a benchmark runs, and never in the shared target directory, whose
# lock other people's builds hold for long. Prints the directory holding `lookout` (the binary)
# and `site/` (the browser's files it embeds, for the benchmarks that measure their sizes).
#
#   bench/build.sh [COMMIT]        (default HEAD of the repository this script is in)
#   bench/build.sh --built COMMIT  (only says, by its exit status, whether it is built already)
#
# The target directory persists between runs (BENCH_TARGET_DIR, default
# /var/tmp/lookout-bench-target), so a later commit rebuilds only what changed. What was built is
# kept by the content of Lookout's sources (everything outside bench/): a commit that changed only
# benchmarks reuses the binary as it is. A cold build takes 15 minutes or more on two cores.
set -euo pipefail
# Read whole before it runs (bash reads a script as it goes): a checkout or an edit meanwhile
# cannot change what a running build or run does.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
target=${BENCH_TARGET_DIR:-/var/tmp/lookout-bench-target}
only_check=
if [ "${1:-}" = --built ]; then only_check=1; shift; fi
commit=$(git -C "$repo" rev-parse --verify --quiet "${1:-HEAD}^{commit}") ||
  { echo "build.sh: ${1:-HEAD} is not a commit of $repo" >&2; exit 1; }
say() { printf '\033[1mbench build:\033[0m %s\n' "$*" >&2; }

# The sources that make the binary, as git knows them: mode, blob and path of every file outside
# bench/. Equal listings build equal binaries.
sources() { git -C "$repo" ls-tree -r --full-tree "$commit" | awk -F'\t' '$2 !~ /^bench\//'; }
key=$(sources | sha256sum | cut -c1-16)
out=$target/dist/$key
if [ -x "$out/lookout" ] && [ -f "$out/site/pkg/lookout.wasm" ]; then
  [ -z "$only_check" ] || exit 0
  say "Lookout ${commit:0:7} already built ($out)"
  echo "$out"
  exit 0
fi
[ -z "$only_check" ] || exit 1

mkdir -p "$target"
# One build at a time in this target directory: the source tree and the list below are shared.
exec 9>"$target/.lock"
if ! flock -n 9; then
  say "waiting for another benchmark build to finish"
  flock 9
fi
if [ -x "$out/lookout" ] && [ -f "$out/site/pkg/lookout.wasm" ]; then
  echo "$out"
  exit 0
fi

# A fixed place, emptied before and after: cargo keeps what it built by path, so the same path
# each time lets it reuse the last build's work.
src=$target/src
cargo_target=$target/lookout
built=$cargo_target/.bench-sources
rm -rf "$src" && mkdir -p "$src"
trap 'rm -rf "$src"' EXIT
git -C "$repo" archive "$commit" | tar -x -m -C "$src"
# cargo decides what to rebuild by modification times. Unpacked, every file is newer than any
# earlier build, so every crate of the workspace would be rebuilt; files exactly as in the last
# build made in this target directory get a time long past instead, so only what changed since
# is rebuilt. The list is removed while building: after a build that stopped halfway, nothing
# is taken as up to date.
if [ -f "$built" ]; then
  comm -12 <(sources | sort) <(sort "$built") | cut -f2 | (cd "$src" && xargs -r -d '\n' touch -h -d @946684800)
fi
rm -f "$built"

say "building Lookout ${commit:0:7} with its scripts/release.sh in $src (a cold build takes 15 minutes or more)"
mkdir -p "$cargo_target"
log=$target/build-$key.log
if ! (cd "$src" && CARGO_TARGET_DIR=$cargo_target ./scripts/release.sh) >"$log" 2>&1; then
  tail -20 "$log" >&2
  say "the build failed (the whole log: $log)"
  exit 1
fi
sources >"$built"
# For bench/all.sh's estimate of the next build.
echo "build $SECONDS" >>"$target/durations"

rm -rf "$out" && mkdir -p "$out"
cp "$src/dist/lookout" "$out/lookout"
cp -a "$src/target/release-site" "$out/site"
echo "$commit" >"$out/commit"
# Keep the newest few builds only: each is a binary and a site of a few tens of MB.
ls -1dt "$target"/dist/*/ | tail -n +4 | xargs -r rm -rf
rm -f "$log"
say "built $out/lookout ($(du -h "$out/lookout" | cut -f1))"
echo "$out"

exit
}

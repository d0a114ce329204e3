#!/usr/bin/env bash
# Debian's own Mosquitto, rebuilt with its websocket listener (Debian's package is built without
# it), into a cache directory outside the repository. Prints the path of the built broker.
#
# Sources come from the Debian mirror and suites the machine already installs from, through a
# private deb-src list (the system's apt configuration stays as it is); build tools are Debian
# packages. Nothing else is downloaded.
#
# libwebsockets is built from Debian's source too: Debian's binary package lacks
# LWS_WITH_EXTERNAL_POLL, without which Mosquitto only services websocket clients between its
# own 100 ms epoll waits ("Websocket performance will be unusable", says its build), which would
# make the reference look slower than Mosquitto is.
set -euo pipefail

cache=${BENCH_MOSQUITTO_CACHE:-/var/cache/lookout-bench/mosquitto-ws}
broker=$cache/bin/mosquitto
say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }

if [ -x "$broker" ] && [ -f "$cache/bin/.websockets-external-poll" ]; then
  echo "$broker"
  exit 0
fi

version=$(dpkg-query -W -f='${Version}' mosquitto 2>/dev/null ||
  apt-cache policy mosquitto | awk '/Candidate:/ {print $2}')
say "building Mosquitto $version with websockets into $cache (once, a few minutes)"

missing=()
for package in cmake dpkg-dev libcap-dev libcjson-dev uthash-dev; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# deb-src lines for the Debian mirrors and suites of the machine's own deb lines.
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial"
{
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    /^Types:/ { deb = ($0 ~ /deb( |$)/) }
    /^URIs:/ { uris = $2 } /^Suites:/ { $1 = ""; suites = $0 }
    /^$/ { if (deb && uris ~ /debian/) print uris "|" suites; deb = 0 }
    END { if (deb && uris ~ /debian/) print uris "|" suites }' |
    while IFS='|' read -r uri suites; do
      for suite in $suites; do echo "deb-src $uri $suite main"; done
    done
  { grep -hs '^deb .*debian' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
    sed 's/^deb /deb-src /'
} | sort -u >"$apt_dir/sources.list"
[ -s "$apt_dir/sources.list" ] || { say "no Debian mirror found in /etc/apt"; exit 1; }
apt_private=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
apt-get "${apt_private[@]}" -qq update >&2

work=$cache/src
rm -rf "$work" && mkdir -p "$work"
lws_version=$(apt-cache policy libwebsockets-dev | awk '/Candidate:/ {print $2}')
# Debian's patches are applied by apt-get source.
(cd "$work" && apt-get "${apt_private[@]}" -qq source "mosquitto=$version" \
  "libwebsockets=$lws_version" >&2)
source_of() { find "$work" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | head -1; }
mosquitto_src=$(source_of mosquitto)
lws_src=$(source_of libwebsockets)
[ -n "$mosquitto_src" ] && [ -n "$lws_src" ] || { say "apt-get source gave no sources"; exit 1; }

# A static libwebsockets with external poll and nothing the websocket listener does not need.
lws=$cache/lws
cmake -S "$lws_src" -B "$work/lws-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$lws" -DLWS_WITH_EXTERNAL_POLL=ON -DLWS_WITH_SHARED=OFF \
  -DLWS_WITH_STATIC=ON -DLWS_WITH_SSL=OFF -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON \
  -DLWS_WITH_MINIMAL_EXAMPLES=OFF -DLWS_WITH_LIBUV=OFF -DLWS_WITH_LIBEV=OFF \
  -DLWS_WITH_GLIB=OFF -DLWS_IPV6=ON >&2
cmake --build "$work/lws-build" -j"$(nproc)" >&2
cmake --install "$work/lws-build" >&2

# Only the broker, without TLS (the benchmark's listeners are plain) and against that library,
# whose privilege dropping needs libcap (a shared library, so its place on the line is free).
make -C "$mosquitto_src" -j"$(nproc)" WITH_WEBSOCKETS=yes WITH_TLS=no WITH_DOCS=no \
  WITH_CJSON=yes WITH_SRV=no WITH_SYSTEMD=no WITH_BUNDLED_DEPS=yes \
  CPPFLAGS="-I$lws/include" LDFLAGS="-L$lws/lib -Wl,--no-as-needed -lcap" binary >&2
if grep -q 'LWS_WITH_EXTERNAL_POLL' "$lws/include/lws_config.h"; then :; else
  say "libwebsockets was built without LWS_WITH_EXTERNAL_POLL"; exit 1
fi
mkdir -p "$cache/bin"
cp "$mosquitto_src/src/mosquitto" "$broker"
touch "$cache/bin/.websockets-external-poll"
echo "$broker"

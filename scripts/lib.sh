# Shared by scripts/demo.sh and scripts/test.sh: where things live, and the services both need.
# Sourced, not run.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LOOKOUT_TOOLS=${LOOKOUT_TOOLS:-/var/cache/lookout-tools}
# A target directory outside the clone, so a fresh clone (CI's) reuses earlier builds when the
# machine has them; a machine without one builds from scratch.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/lookout-target}
export PATH="$HOME/.cargo/bin:$LOOKOUT_TOOLS/node_modules/.bin:$PATH"

say() { printf '\033[1m%s:\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Waits until a command succeeds, up to $1 seconds.
wait_for() {
  local seconds=$1; shift
  for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Sets LOOKOUT_PG_ADMIN_URL to a PostgreSQL role that may create databases, starting the
# machine's cluster if it is down. A fresh Debian cluster asks for a password over TCP, so then a
# project role gets one, set through the local socket as the postgres user.
ensure_postgres() {
  [ -n "${LOOKOUT_PG_ADMIN_URL:-}" ] && return 0
  if ! port_open 127.0.0.1 5432; then
    say "starting PostgreSQL"
    for version in $(ls /etc/postgresql 2>/dev/null); do
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    wait_for 30 port_open 127.0.0.1 5432 || die "PostgreSQL did not start on 127.0.0.1:5432"
  fi
  local trusted=postgres://postgres@127.0.0.1:5432/postgres
  if psql "$trusted" -Atqc 'select 1' >/dev/null 2>&1; then
    export LOOKOUT_PG_ADMIN_URL=$trusted
    return 0
  fi
  say "creating the PostgreSQL role lookout (password login over TCP)"
  as_root runuser -u postgres -- psql -qc "do \$\$ begin
      if not exists (select from pg_roles where rolname = 'lookout') then
        create role lookout login createdb password 'lookout';
      end if; end \$\$" || die "cannot create the lookout role in PostgreSQL"
  export LOOKOUT_PG_ADMIN_URL=postgres://lookout:lookout@127.0.0.1:5432/postgres
  psql "$LOOKOUT_PG_ADMIN_URL" -Atqc 'select 1' >/dev/null || die "cannot log in to PostgreSQL as lookout"
}

# The URL of database $1 on the same server, created if missing.
database_url() {
  local name=$1
  if [ -z "$(psql "$LOOKOUT_PG_ADMIN_URL" -Atqc "select 1 from pg_database where datname = '$name'")" ]; then
    psql "$LOOKOUT_PG_ADMIN_URL" -qc "create database \"$name\"" >/dev/null
  fi
  echo "${LOOKOUT_PG_ADMIN_URL%/*}/$name"
}

# What both README commands need first: the tools, a database server and a broker.
prepare_machine() {
  "$root/scripts/bootstrap.sh"
  ensure_postgres
  ensure_mosquitto
}

# Sets LOOKOUT_MQTT_URL to a running broker. When none runs on 127.0.0.1:1883, starts Mosquitto
# with the project's config/mosquitto.conf (the settings docs/ingest.md says Lookout needs).
ensure_mosquitto() {
  export LOOKOUT_MQTT_URL=${LOOKOUT_MQTT_URL:-mqtt://127.0.0.1:1883}
  port_open 127.0.0.1 1883 && return 0
  say "starting Mosquitto with config/mosquitto.conf"
  # Started as root, Mosquitto runs as its own user, which must own where it writes.
  as_root mkdir -p /var/lib/mosquitto
  as_root chown mosquitto: /var/lib/mosquitto
  as_root mosquitto -d -c "$root/config/mosquitto.conf"
  wait_for 15 port_open 127.0.0.1 1883 || die "Mosquitto did not start on 127.0.0.1:1883"
}

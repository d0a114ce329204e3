#!/usr/bin/env bash
# Writes `.sqlx/`, the descriptions of the store's compile-time checked queries, from a scratch
# database migrated to the schema in migrations/. Run it after changing a query or a migration,
# and commit what it writes. With --check it writes nothing and fails when `.sqlx/` is stale
# (scripts/test.sh runs it so).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

check=
case "${1:-}" in
  --check) check=--check ;;
  "") ;;
  *) die "usage: scripts/prepare-queries.sh [--check]" ;;
esac

command -v sqlx >/dev/null || "$root/scripts/bootstrap.sh"
ensure_postgres

# Its own database, not a test's: scripts/test.sh drops those, and a developer's may be ahead of
# or behind migrations/.
scratch=lookout_queries
drop_scratch() {
  PGOPTIONS="-c client_min_messages=warning" psql "$LOOKOUT_PG_ADMIN_URL" -qc "drop database if exists $scratch with (force)" >/dev/null
}
drop_scratch
trap drop_scratch EXIT
export DATABASE_URL
DATABASE_URL=$(database_url "$scratch")
sqlx migrate run --source migrations >/dev/null

# The same targets as clippy in scripts/test.sh, so no query escapes.
cargo sqlx prepare --workspace $check -- --all-targets --quiet

#!/bin/sh
# One-shot (temporalio/admin-tools): create and migrate Temporal's two PostgreSQL databases before
# the server starts. Safe to re-run: `create` tolerates an existing database, and setup/update
# schema only apply what is missing, so `docker compose up` after a restart is a no-op here.
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"
}

for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db=${pair%%:*}
  dir=${pair#*:}
  echo "schema: $db"
  sql --db "$db" create || echo "database $db already exists"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$SCHEMA_ROOT/$dir/versioned"
done
echo "schema: done"

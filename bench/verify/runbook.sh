#!/usr/bin/env bash
# The same 70 checks as the generated shipgate.toml, written the way the runbooks do: one after
# the other, curl | jq and psql. Needs HTTP_PORT and DATABASE_URL.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
for i in $(seq 1 50); do
  curl -fsS --max-time 5 "http://127.0.0.1:$HTTP_PORT/svc/$i" |
    jq -e '.status == "healthy" and .checks.database.status == "healthy"' >/dev/null || fail "svc-$i"
done
for round in 1 2 3 4 5; do
  [ "$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM lp_reporting_migrations")" = 3 ] || fail "migrations ($round)"
  [ "$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM lp_funds")" -ge 1 ] || fail "funds ($round)"
  [ "$(psql "$DATABASE_URL" -tAc "SELECT id FROM lp_partners" | wc -l)" -eq 2 ] || fail "partners ($round)"
  [ "$(psql "$DATABASE_URL" -tAc "SELECT status FROM lp_reports WHERE id = 1")" = published ] || fail "report ($round)"
done

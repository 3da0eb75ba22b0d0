#!/usr/bin/env bash
# The same 20 checks as shipgate.toml, written the way the runbooks do: one after the other.
set -euo pipefail
psql "$DATABASE_URL" -tAc "SELECT 1;" >/dev/null
psql "$DATABASE_URL" -tAc "SELECT EXISTS(SELECT 1 FROM information_schema.tables WHERE table_name='funds');" | grep -q t
redis-cli -u "$REDIS_URL" ping | grep -q PONG
for i in $(seq 1 10); do
  dir="$BENCH_DIR/reports-$i"
  mkdir -p "$dir"
  touch "$dir/.test" && rm "$dir/.test"
done
for v in DATABASE_URL SESSION_SECRET LP_REPORT_MAX_SIZE_MB; do
  [ -n "${!v:-}" ] || { echo "FAIL: $v not set"; exit 1; }
done
for port in $HTTP_PORTS; do
  curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port/health"
done
echo "all checks passed"

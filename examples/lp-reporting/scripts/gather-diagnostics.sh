#!/bin/sh
# "Gather diagnostic information" of the LP Reporting rollback runbook, run by shipgate as the
# `gather-diagnostics` rollback hook before the down scripts: the state for the post-mortem.
#
#   psql "$DATABASE_URL" -c "SELECT * FROM lp_reporting_migrations;" > migration-status.log
#   tail -1000 /var/log/app/api.log > api-logs.log
#   curl "http://api.example.com/api/lp/health" > health-status.json 2>&1
#
# Into $LP_DIAGNOSTICS_DIR (default ./diagnostics). A capture that fails (the API is down: that
# may be why we roll back) is said on stderr and does not stop the rollback; only a directory
# that cannot be written fails the hook.
dir="${LP_DIAGNOSTICS_DIR:-diagnostics}"
mkdir -p "$dir" || exit 1
missing=0
if ! PGCONNECT_TIMEOUT=10 psql -X "$DATABASE_URL" -c "SELECT * FROM lp_reporting_migrations;" >"$dir/migration-status.log" 2>&1; then
  echo "migration status not captured: $(tail -n 1 "$dir/migration-status.log")" >&2
  missing=$((missing + 1))
fi
if ! tail -n 1000 "${LP_API_LOG:-/var/log/app/api.log}" >"$dir/api-logs.log" 2>&1; then
  echo "api log not captured: $(tail -n 1 "$dir/api-logs.log")" >&2
  missing=$((missing + 1))
fi
if ! curl -sS --max-time 10 "$LP_API_URL/api/lp/health" >"$dir/health-status.json" 2>&1; then
  echo "health status not captured: $(tail -n 1 "$dir/health-status.json")" >&2
  missing=$((missing + 1))
fi
echo "diagnostics in $dir: migration-status.log, api-logs.log, health-status.json ($missing not captured)"

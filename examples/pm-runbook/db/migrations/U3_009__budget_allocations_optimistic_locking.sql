-- rollback_scripts/rollback_V3_009.sql
DROP TABLE IF EXISTS budget_allocations;

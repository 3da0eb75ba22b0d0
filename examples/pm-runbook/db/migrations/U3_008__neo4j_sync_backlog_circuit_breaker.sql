-- rollback_scripts/rollback_V3_008.sql
DROP INDEX IF EXISTS signals_created_at_idx;
DROP TABLE IF EXISTS neo4j_sync_backlog;

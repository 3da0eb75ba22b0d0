-- rollback_scripts/rollback_V3_011.sql
DROP TABLE IF EXISTS neo4j_sync_dead_letter;

-- rollback_scripts/rollback_V3_012.sql
DROP FUNCTION IF EXISTS refresh_observability_views();
DROP MATERIALIZED VIEW IF EXISTS error_summary;
DROP MATERIALIZED VIEW IF EXISTS performance_metrics_hourly;
DROP TABLE IF EXISTS tracing_spans;
DROP TABLE IF EXISTS error_occurrences;
DROP TABLE IF EXISTS error_aggregation;
DROP TABLE IF EXISTS performance_metrics;

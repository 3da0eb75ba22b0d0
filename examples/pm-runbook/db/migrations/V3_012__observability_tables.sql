-- V3_012 - Observability tables (performance, errors, tracing)
CREATE TABLE performance_metrics (
    id          bigserial PRIMARY KEY,
    endpoint    text        NOT NULL,
    method      text        NOT NULL,
    status_code integer     NOT NULL,
    duration_ms integer     NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX performance_metrics_recorded_at_idx ON performance_metrics (recorded_at);
COMMENT ON INDEX performance_metrics_recorded_at_idx IS 'V3_012 metrics by time';

CREATE TABLE error_aggregation (
    id          bigserial PRIMARY KEY,
    fingerprint text        NOT NULL UNIQUE,
    message     text        NOT NULL,
    occurrences integer     NOT NULL DEFAULT 0,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    resolved    boolean     NOT NULL DEFAULT false
);

CREATE TABLE error_occurrences (
    id             bigserial PRIMARY KEY,
    aggregation_id bigint      NOT NULL REFERENCES error_aggregation (id) ON DELETE CASCADE,
    stack          text,
    context        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX error_occurrences_aggregation_idx ON error_occurrences (aggregation_id, occurred_at);
COMMENT ON INDEX error_occurrences_aggregation_idx IS 'V3_012 occurrences per error group';

CREATE TABLE tracing_spans (
    trace_id    text        NOT NULL,
    span_id     text        NOT NULL,
    parent_id   text,
    name        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms integer     NOT NULL,
    attributes  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (trace_id, span_id)
);

-- Filled by REFRESH MATERIALIZED VIEW (the runbook's "Initialize Materialized Views" step and
-- the hourly cron job); reading one before its first refresh fails (SQLSTATE 55000).
CREATE MATERIALIZED VIEW performance_metrics_hourly AS
SELECT date_trunc('hour', recorded_at) AS hour,
       endpoint,
       count(*)                                                   AS requests,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
       avg(CASE WHEN status_code >= 500 THEN 1.0 ELSE 0.0 END)    AS error_rate
FROM performance_metrics
GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX performance_metrics_hourly_key ON performance_metrics_hourly (hour, endpoint);
COMMENT ON INDEX performance_metrics_hourly_key IS 'V3_012 hourly view key (REFRESH CONCURRENTLY)';

CREATE MATERIALIZED VIEW error_summary AS
SELECT a.id AS aggregation_id, a.fingerprint, a.message, a.resolved,
       count(o.id) AS occurrences_24h, max(o.occurred_at) AS last_seen
FROM error_aggregation a
LEFT JOIN error_occurrences o ON o.aggregation_id = a.id AND o.occurred_at > now() - interval '24 hours'
GROUP BY a.id
WITH NO DATA;
CREATE UNIQUE INDEX error_summary_key ON error_summary (aggregation_id);
COMMENT ON INDEX error_summary_key IS 'V3_012 error summary key (REFRESH CONCURRENTLY)';

-- The hourly cron job: psql $DATABASE_URL -c "SELECT refresh_observability_views();"
CREATE FUNCTION refresh_observability_views() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    REFRESH MATERIALIZED VIEW performance_metrics_hourly;
    REFRESH MATERIALIZED VIEW error_summary;
END;
$$;

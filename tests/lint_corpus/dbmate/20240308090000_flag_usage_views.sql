-- migrate:up
CREATE VIEW enabled_flags AS
    SELECT key, rollout_percent FROM feature_flags WHERE enabled;

CREATE MATERIALIZED VIEW flag_override_counts AS
    SELECT flag_key, count(*) AS tenants, count(*) FILTER (WHERE enabled) AS enabled_tenants
    FROM flag_overrides
    GROUP BY flag_key;

CREATE UNIQUE INDEX flag_override_counts_key ON flag_override_counts (flag_key);

-- migrate:down
DROP MATERIALIZED VIEW flag_override_counts;
DROP VIEW enabled_flags;

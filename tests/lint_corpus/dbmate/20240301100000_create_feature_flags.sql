-- migrate:up
CREATE TABLE feature_flags (
    key text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    enabled boolean NOT NULL DEFAULT false,
    rollout_percent smallint NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE feature_flags;

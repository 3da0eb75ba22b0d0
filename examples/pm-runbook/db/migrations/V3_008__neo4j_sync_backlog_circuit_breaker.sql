-- V3_008 - Neo4j sync backlog, circuit breaker, indexes
CREATE TABLE neo4j_sync_backlog (
    id            bigserial PRIMARY KEY,
    entity_type   text        NOT NULL,
    entity_id     text        NOT NULL,
    operation     text        NOT NULL CHECK (operation IN ('upsert', 'delete')),
    payload       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    -- circuit breaker: the backlog is drained only while the breaker is closed
    breaker_state text        NOT NULL DEFAULT 'closed' CHECK (breaker_state IN ('closed', 'open', 'half_open')),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX neo4j_sync_backlog_next_attempt_idx ON neo4j_sync_backlog (next_attempt_at) WHERE attempts < 5;
COMMENT ON INDEX neo4j_sync_backlog_next_attempt_idx IS 'V3_008 backlog drain order';
CREATE INDEX neo4j_sync_backlog_entity_idx ON neo4j_sync_backlog (entity_type, entity_id);
COMMENT ON INDEX neo4j_sync_backlog_entity_idx IS 'V3_008 backlog lookup by entity';
CREATE INDEX signals_created_at_idx ON signals (created_at DESC);
COMMENT ON INDEX signals_created_at_idx IS 'V3_008 signal listing';

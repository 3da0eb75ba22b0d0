-- V3_011 - Neo4j dead letter queue
CREATE TABLE neo4j_sync_dead_letter (
    id           bigserial PRIMARY KEY,
    backlog_id   bigint      NOT NULL,
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    payload      jsonb       NOT NULL,
    attempts     integer     NOT NULL,
    last_error   text        NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);

CREATE INDEX neo4j_sync_dead_letter_unresolved_idx ON neo4j_sync_dead_letter (failed_at) WHERE resolved_at IS NULL;
COMMENT ON INDEX neo4j_sync_dead_letter_unresolved_idx IS 'V3_011 unresolved dead letters';

-- V3_009 - Cost tracking budget allocations, optimistic locking
CREATE TABLE budget_allocations (
    id           bigserial PRIMARY KEY,
    team         text          NOT NULL,
    period_start date          NOT NULL,
    amount_usd   numeric(12,2) NOT NULL CHECK (amount_usd >= 0),
    spent_usd    numeric(12,2) NOT NULL DEFAULT 0,
    -- optimistic locking: UPDATE ... SET version = version + 1 WHERE id = $1 AND version = $2
    version      integer       NOT NULL DEFAULT 1,
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (team, period_start)
);

CREATE INDEX budget_allocations_period_idx ON budget_allocations (period_start);
COMMENT ON INDEX budget_allocations_period_idx IS 'V3_009 budget by period';

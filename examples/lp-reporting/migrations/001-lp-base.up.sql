-- 001-lp-base: Create LP base tables
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE limited_partners (
    id          BIGSERIAL PRIMARY KEY,
    public_id   UUID NOT NULL DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('individual', 'institution', 'fund_of_funds')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT limited_partners_email_unique UNIQUE (email)
);

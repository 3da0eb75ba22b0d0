-- Saved by an editor that writes a UTF-8 BOM.
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    plan text NOT NULL DEFAULT 'free'
);

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id),
    actor_id bigint,
    action text,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

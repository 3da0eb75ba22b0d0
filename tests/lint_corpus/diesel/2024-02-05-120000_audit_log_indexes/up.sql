-- Runs outside a transaction (metadata.toml: run_in_transaction = false).
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_log_account_occurred_idx
    ON audit_log (account_id, occurred_at DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_log_payload_gin
    ON audit_log USING gin (payload jsonb_path_ops);

DROP INDEX CONCURRENTLY IF EXISTS audit_log_payload_gin;
DROP INDEX CONCURRENTLY IF EXISTS audit_log_account_occurred_idx;

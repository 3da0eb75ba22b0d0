-- action must be set. The safe way on PostgreSQL 12+: a NOT VALID check, validated, lets
-- SET NOT NULL skip its full-table scan. (Validated here in the same transaction.)
UPDATE audit_log SET action = 'unknown' WHERE action IS NULL;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_not_null CHECK (action IS NOT NULL) NOT VALID;
ALTER TABLE audit_log VALIDATE CONSTRAINT audit_log_action_not_null;
ALTER TABLE audit_log ALTER COLUMN action SET NOT NULL;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_not_null;

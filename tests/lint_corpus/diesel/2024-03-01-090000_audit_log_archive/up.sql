-- Retention job: rows older than 400 days go. Primary key on the archive table added afterwards.
CREATE TABLE audit_log_archive (LIKE audit_log INCLUDING DEFAULTS);
ALTER TABLE audit_log_archive ADD PRIMARY KEY (id);
INSERT INTO audit_log_archive SELECT * FROM audit_log WHERE occurred_at < now() - interval '400 days';
DELETE FROM audit_log WHERE occurred_at < now() - interval '400 days';
DROP INDEX audit_log_payload_gin;

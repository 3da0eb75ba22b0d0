ALTER TABLE audit_log RENAME COLUMN user_id TO actor_id;

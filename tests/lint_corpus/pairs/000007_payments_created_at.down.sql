ALTER TABLE payments ALTER COLUMN created_at TYPE timestamp;
DROP INDEX payments_created_at_idx;

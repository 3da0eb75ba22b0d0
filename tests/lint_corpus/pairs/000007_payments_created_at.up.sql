-- Written on Windows: CRLF line endings.
-- Daily settlement report filters payments by creation date.
CREATE INDEX payments_created_at_idx
    ON payments (created_at);

ALTER TABLE payments ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC';

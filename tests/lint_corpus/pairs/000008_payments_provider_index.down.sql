-- shipgate:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS payments_provider_payment_key;
CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_created_at_idx ON payments (created_at);

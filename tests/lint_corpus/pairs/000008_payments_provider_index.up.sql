-- shipgate:no-transaction
-- Webhook lookups by (provider, provider_payment_id); unique, built online.
CREATE UNIQUE INDEX CONCURRENTLY payments_provider_payment_key
    ON payments (provider, provider_payment_id);
DROP INDEX CONCURRENTLY IF EXISTS payments_created_at_idx;

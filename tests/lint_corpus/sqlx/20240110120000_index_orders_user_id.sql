-- no-transaction
-- Orders by user, for the "my orders" page; built without blocking checkout.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_id_idx ON orders (user_id);
CREATE INDEX CONCURRENTLY orders_placed_at_idx ON orders (placed_at DESC);

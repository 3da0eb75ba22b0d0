-- executeInTransaction=false in V3__stock_movements_indexes.sql.conf
CREATE INDEX CONCURRENTLY IF NOT EXISTS stock_movements_product_idx
    ON shop.stock_movements (product_id, moved_at);
CREATE INDEX CONCURRENTLY stock_movements_warehouse_idx
    ON shop.stock_movements (warehouse_id);

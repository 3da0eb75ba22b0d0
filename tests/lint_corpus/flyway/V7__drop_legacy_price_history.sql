-- The price history moved to the analytics warehouse (ticket SHOP-812).
-- squawk-ignore ban-drop-table
DROP TABLE shop.price_history_legacy;
CREATE VIEW shop.product_stock AS
    SELECT p.sku, p.name, coalesce(sum(s.on_hand), 0) AS on_hand
    FROM shop.products p LEFT JOIN shop.stock_levels s ON s.product_id = p.id
    GROUP BY p.sku, p.name;

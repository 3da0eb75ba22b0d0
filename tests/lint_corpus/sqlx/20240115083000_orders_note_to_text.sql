-- The 200-character limit on order notes is gone: varchar(200) -> text.
ALTER TABLE orders ALTER COLUMN note TYPE text;
-- Bulk B2B orders (screws, labels) overflow a 32-bit quantity.
ALTER TABLE order_items ALTER COLUMN quantity TYPE bigint;

-- Prices in four decimals for per-gram goods. Rewrites the table.
ALTER TABLE shop.products ALTER COLUMN price TYPE numeric(14, 4);
-- Longer SKUs from the new supplier: raising a varchar limit is catalog-only, no rewrite.
ALTER TABLE shop.products ALTER COLUMN sku TYPE varchar(128);

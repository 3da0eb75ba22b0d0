-- Full-text search on product names. The generated column rewrites the table.
ALTER TABLE shop.products
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED;
CREATE INDEX products_search_idx ON shop.products USING gin (search);
-- The import format changed: empty the staging tables (import_rows references the batches).
TRUNCATE shop.import_batches CASCADE;

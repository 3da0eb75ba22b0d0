-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY IF NOT EXISTS flag_overrides_tenant_id_idx ON flag_overrides (tenant_id);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS flag_overrides_tenant_id_idx;

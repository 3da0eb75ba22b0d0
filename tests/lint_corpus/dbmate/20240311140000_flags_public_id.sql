-- migrate:up
-- A public id for the admin API; gen_random_uuid() is volatile, so every row gets its own.
ALTER TABLE feature_flags ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE feature_flags ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- migrate:down
ALTER TABLE feature_flags DROP COLUMN updated_at;
ALTER TABLE feature_flags DROP COLUMN public_id;

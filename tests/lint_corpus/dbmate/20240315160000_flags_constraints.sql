-- migrate:up
ALTER TABLE feature_flags ADD CONSTRAINT feature_flags_public_id_key UNIQUE (public_id);
-- squawk-ignore constraint-missing-not-valid
ALTER TABLE feature_flags ADD CONSTRAINT feature_flags_key_format CHECK (key ~ '^[a-z0-9-]+$');
ALTER TABLE flag_overrides ADD COLUMN note text;

-- migrate:down
ALTER TABLE flag_overrides DROP COLUMN note;
ALTER TABLE feature_flags DROP CONSTRAINT feature_flags_key_format;
ALTER TABLE feature_flags DROP CONSTRAINT feature_flags_public_id_key;

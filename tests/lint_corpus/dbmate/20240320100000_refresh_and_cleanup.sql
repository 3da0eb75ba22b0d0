-- migrate:up
-- Retire the "new-checkout" flag: it is on for everyone.
DELETE FROM flag_overrides WHERE flag_key = 'new-checkout';
DELETE FROM feature_flags WHERE key = 'new-checkout';
REFRESH MATERIALIZED VIEW flag_override_counts;
ALTER TABLE feature_flags ALTER COLUMN description DROP NOT NULL;

-- migrate:down
UPDATE feature_flags SET description = '' WHERE description IS NULL;
ALTER TABLE feature_flags ALTER COLUMN description SET NOT NULL;
INSERT INTO feature_flags (key, description, enabled, rollout_percent)
VALUES ('new-checkout', 'Checkout v2', true, 100);

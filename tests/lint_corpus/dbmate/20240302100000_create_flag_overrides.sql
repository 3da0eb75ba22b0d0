-- migrate:up
CREATE TABLE tenants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL UNIQUE
);

CREATE TABLE flag_overrides (
    flag_key text NOT NULL REFERENCES feature_flags (key) ON DELETE CASCADE,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    enabled boolean NOT NULL,
    PRIMARY KEY (flag_key, tenant_id)
);

INSERT INTO feature_flags (key, description) VALUES
    ('new-checkout', 'Checkout v2'),
    ('dark-mode', 'Thème sombre — ダークモード 🌙');

-- migrate:down
DROP TABLE flag_overrides;
DROP TABLE tenants;
DELETE FROM feature_flags WHERE key IN ('new-checkout', 'dark-mode');

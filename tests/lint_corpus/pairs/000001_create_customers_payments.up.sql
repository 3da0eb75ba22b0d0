-- Payments service schema (golang-migrate).
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    external_ref text NOT NULL UNIQUE,
    country char(2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id serial PRIMARY KEY,
    amount numeric(12, 2) NOT NULL,
    currency char(3) NOT NULL,
    provider text NOT NULL,
    provider_payment_id text,
    created_at timestamp NOT NULL DEFAULT now()
);

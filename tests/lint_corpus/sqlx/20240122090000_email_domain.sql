-- A reusable email type for the newsletter tables.
CREATE DOMAIN email_address AS citext CHECK (VALUE ~ '^[^@\s]+@[^@\s]+$');

CREATE TABLE newsletter_subscriptions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email email_address NOT NULL UNIQUE,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    subscribed_at timestamptz NOT NULL DEFAULT now()
);

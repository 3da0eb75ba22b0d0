CREATE TYPE payment_status AS ENUM ('pending', 'authorized', 'captured', 'failed');
ALTER TABLE payments ADD COLUMN status payment_status NOT NULL DEFAULT 'pending';
-- Chargebacks arrived with the new provider.
ALTER TYPE payment_status ADD VALUE 'disputed';

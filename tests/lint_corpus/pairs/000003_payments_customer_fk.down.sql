ALTER TABLE payments DROP CONSTRAINT payments_customer_id_fkey;
ALTER TABLE payments DROP COLUMN customer_id;

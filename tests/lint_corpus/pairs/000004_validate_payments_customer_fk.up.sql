ALTER TABLE payments VALIDATE CONSTRAINT payments_customer_id_fkey;

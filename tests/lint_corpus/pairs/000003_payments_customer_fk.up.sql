-- Link payments to customers. The constraint is added NOT VALID (no scan, brief lock) and
-- validated by the next migration, in its own transaction.
ALTER TABLE payments ADD COLUMN customer_id bigint;
ALTER TABLE payments
    ADD CONSTRAINT payments_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;

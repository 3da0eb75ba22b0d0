-- Refunds must point at a payment. Added in one step: this scans refunds under a
-- SHARE ROW EXCLUSIVE lock on both tables.
ALTER TABLE refunds
    ADD CONSTRAINT refunds_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES payments (id);

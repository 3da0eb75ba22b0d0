ALTER TABLE refunds DROP CONSTRAINT refunds_payment_id_fkey;

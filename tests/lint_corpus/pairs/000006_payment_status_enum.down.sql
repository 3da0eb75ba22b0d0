ALTER TABLE payments DROP COLUMN status;
DROP TYPE payment_status;

ALTER TABLE customers ADD COLUMN email text;
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
ALTER TABLE customers ADD CONSTRAINT customers_country_upper CHECK (country = upper(country));

-- Profile fields for the account page. Non-volatile defaults: no table rewrite since PG 11.
ALTER TABLE users ADD COLUMN display_name text;
ALTER TABLE users ADD COLUMN is_active boolean NOT NULL DEFAULT true;
ALTER TABLE users ADD COLUMN last_seen_at timestamptz DEFAULT now();
ALTER TABLE users ADD COLUMN "名前_kana" varchar(100);

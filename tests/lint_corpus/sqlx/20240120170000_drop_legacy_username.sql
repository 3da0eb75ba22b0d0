-- Usernames were replaced by emails in 2023; the app stopped reading the column in v4.2.
-- squawk-ignore ban-drop-column
ALTER TABLE users DROP COLUMN legacy_username;

-- Order notes moved to the order_comments service in v4.3; nothing reads the column any more.
ALTER TABLE orders DROP COLUMN note;

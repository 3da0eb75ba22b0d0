-- Backfill: display_name defaults to the local part of the email.
-- Exemple : « élodie.dupont@exemple.fr » → « élodie.dupont »; 日本語の名前もそのまま 🙂
UPDATE users
SET display_name = split_part(email::text, '@', 1)
WHERE display_name IS NULL;

UPDATE users SET display_name = '名無し 🙂' WHERE display_name = ''; CREATE INDEX users_display_name_idx ON users (display_name);

ALTER TABLE audit_log RENAME COLUMN actor_id TO user_id; -- "actor" read like a service account: it is always a user
-- (This file starts with a UTF-8 BOM, followed at once by the statement.)

-- The trigger function names the column: redefine it.
CREATE OR REPLACE FUNCTION audit_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (account_id, user_id, action, payload)
    VALUES (COALESCE(NEW.id, OLD.id),
            NULLIF(current_setting('app.user_id', true), '')::bigint,
            lower(TG_OP),
            jsonb_build_object('old', to_jsonb(OLD), 'new', to_jsonb(NEW)));
    RETURN COALESCE(NEW, OLD);
END
$$;

-- Every change to accounts is written to the audit log by a trigger.
-- The function body is a dollar-quoted string: the statements inside are not migration DDL.
CREATE OR REPLACE FUNCTION audit_accounts() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- ALTER TABLE accounts DROP COLUMN plan;  (a comment inside the body)
    INSERT INTO audit_log (account_id, actor_id, action, payload)
    VALUES (
        COALESCE(NEW.id, OLD.id),
        NULLIF(current_setting('app.user_id', true), '')::bigint,
        lower(TG_OP),
        jsonb_build_object('old', to_jsonb(OLD), 'new', to_jsonb(NEW), 'note', $$it's "quoted"$$)
    );
    RETURN COALESCE(NEW, OLD);
END
$fn$;

CREATE TRIGGER accounts_audit
    AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION audit_accounts();

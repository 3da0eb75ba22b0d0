DROP TRIGGER accounts_audit ON accounts;
DROP FUNCTION audit_accounts();

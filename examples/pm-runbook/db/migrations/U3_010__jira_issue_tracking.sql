-- rollback_scripts/rollback_V3_010.sql
DROP INDEX IF EXISTS signals_jira_issue_key_idx;
ALTER TABLE signals DROP COLUMN IF EXISTS jira_issue_key;

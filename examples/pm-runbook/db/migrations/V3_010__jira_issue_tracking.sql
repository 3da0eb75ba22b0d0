-- V3_010 - JIRA issue tracking, ON CONFLICT handling
-- A signal links to at most one JIRA issue; the unique index is the target of
-- INSERT ... ON CONFLICT (jira_issue_key) DO UPDATE in the sync job.
ALTER TABLE signals ADD COLUMN jira_issue_key text;
CREATE UNIQUE INDEX signals_jira_issue_key_idx ON signals (jira_issue_key) WHERE jira_issue_key IS NOT NULL;
COMMENT ON INDEX signals_jira_issue_key_idx IS 'V3_010 ON CONFLICT target';

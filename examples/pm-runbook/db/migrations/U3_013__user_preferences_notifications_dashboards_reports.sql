-- rollback_scripts/rollback_V3_013.sql
DROP TABLE IF EXISTS feedback_tickets;
DROP TABLE IF EXISTS user_activity_log;
DROP TABLE IF EXISTS report_runs;
DROP TABLE IF EXISTS report_schedules;
DROP TABLE IF EXISTS custom_dashboards;
DROP TABLE IF EXISTS notification_preferences;
DROP TABLE IF EXISTS saved_filters;
DROP TABLE IF EXISTS user_preferences;

-- V3_013 - User preferences, notifications, dashboards, reports
CREATE TABLE user_preferences (
    user_id    text PRIMARY KEY,
    theme      text        NOT NULL DEFAULT 'system' CHECK (theme IN ('light', 'dark', 'system')),
    settings   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE saved_filters (
    id         bigserial PRIMARY KEY,
    user_id    text        NOT NULL,
    name       text        NOT NULL,
    filter     jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE notification_preferences (
    user_id  text    NOT NULL,
    channel  text    NOT NULL CHECK (channel IN ('email', 'slack', 'in_app')),
    enabled  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (user_id, channel)
);

CREATE TABLE custom_dashboards (
    id         bigserial PRIMARY KEY,
    user_id    text        NOT NULL,
    title      text        NOT NULL,
    layout     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE report_schedules (
    id          bigserial PRIMARY KEY,
    user_id     text        NOT NULL,
    report_type text        NOT NULL,
    cron        text        NOT NULL,
    format      text        NOT NULL DEFAULT 'csv' CHECK (format IN ('csv', 'json', 'pdf')),
    next_run_at timestamptz NOT NULL
);
CREATE INDEX report_schedules_next_run_idx ON report_schedules (next_run_at);
COMMENT ON INDEX report_schedules_next_run_idx IS 'V3_013 due scheduled reports';

CREATE TABLE report_runs (
    id          bigserial PRIMARY KEY,
    schedule_id bigint      NOT NULL REFERENCES report_schedules (id) ON DELETE CASCADE,
    status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE TABLE user_activity_log (
    id          bigserial PRIMARY KEY,
    user_id     text        NOT NULL,
    action      text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_activity_log_user_idx ON user_activity_log (user_id, occurred_at DESC);
COMMENT ON INDEX user_activity_log_user_idx IS 'V3_013 activity per user';

CREATE TABLE feedback_tickets (
    id         bigserial PRIMARY KEY,
    user_id    text        NOT NULL,
    body       text        NOT NULL,
    status     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'triaged', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now()
);

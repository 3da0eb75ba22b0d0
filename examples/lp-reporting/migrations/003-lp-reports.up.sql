-- 003-lp-reports: Create LP reports table
CREATE TABLE lp_reports (
    id                 BIGSERIAL PRIMARY KEY,
    limited_partner_id BIGINT NOT NULL REFERENCES limited_partners (id) ON DELETE CASCADE,
    report_type        TEXT NOT NULL CHECK (report_type IN ('quarterly', 'annual', 'capital_call')),
    format             TEXT NOT NULL CHECK (format IN ('pdf', 'csv', 'xlsx')),
    status             TEXT NOT NULL DEFAULT 'queued',
    storage_path       TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX lp_reports_partner_idx ON lp_reports (limited_partner_id, created_at DESC);
CREATE INDEX lp_reports_status_idx ON lp_reports (status) WHERE status <> 'done';

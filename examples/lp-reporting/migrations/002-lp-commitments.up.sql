-- 002-lp-commitments: LP commitments to funds (funds is created by the core migrations)
CREATE TABLE lp_fund_commitments (
    id                      BIGSERIAL PRIMARY KEY,
    limited_partner_id      BIGINT NOT NULL REFERENCES limited_partners (id) ON DELETE CASCADE,
    fund_id                 BIGINT NOT NULL REFERENCES funds (id),
    commitment_amount_cents BIGINT NOT NULL CHECK (commitment_amount_cents > 0),
    committed_at            DATE NOT NULL,
    UNIQUE (limited_partner_id, fund_id)
);

CREATE INDEX lp_fund_commitments_fund_idx ON lp_fund_commitments (fund_id);

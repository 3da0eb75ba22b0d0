DROP TABLE lp_fund_commitments;

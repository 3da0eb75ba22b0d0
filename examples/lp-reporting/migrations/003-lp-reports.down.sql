DROP TABLE lp_reports;

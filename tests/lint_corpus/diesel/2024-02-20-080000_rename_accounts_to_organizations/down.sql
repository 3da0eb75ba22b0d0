DROP VIEW accounts;
ALTER TABLE organizations RENAME TO accounts;

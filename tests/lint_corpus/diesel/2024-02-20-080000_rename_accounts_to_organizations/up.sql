-- Product renamed "accounts" to "organizations"; a view keeps old readers working.
ALTER TABLE accounts RENAME TO organizations;
CREATE VIEW accounts AS SELECT id, name, plan FROM organizations;

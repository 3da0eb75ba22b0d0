-- Nothing to undo: a validated constraint stays valid.
SELECT 1;

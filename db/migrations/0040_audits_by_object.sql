-- Who viewed what (issue 24): a submission's or a case's page lists the reads logged against
-- it, newest first; without this index every such list read the whole audit log.
CREATE INDEX IF NOT EXISTS audits_acted_on_time ON audits (acted_on, logged_at);

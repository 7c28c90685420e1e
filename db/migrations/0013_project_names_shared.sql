-- ODK Central lets two projects share a name (issue 12): the name is a label, the id the key.
ALTER TABLE projects DROP CONSTRAINT IF EXISTS projects_name_unique;
CREATE INDEX IF NOT EXISTS projects_name ON projects (name);

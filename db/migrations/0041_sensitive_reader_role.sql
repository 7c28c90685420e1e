-- A project role that only lifts the masking of the questions that identify a person (issue 24):
-- given beside another role, e.g. to a researcher who must see names (api/auth.py).
ALTER TABLE assignments DROP CONSTRAINT assignments_role_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_role_check
    CHECK (role IN ('manager', 'researcher', 'ministry', 'collector', 'sensitive_reader'));

-- Retention periods (issue 25): per form, submissions older than `months` (for a submission
-- that wrote a case entity: months after the case closed, its `status` property `closed`) are
-- erased by the daily run, whole or only their sensitive fields (the questions the form marks
-- `sensitive`). `fields_erased_at` records that a submission's sensitive fields are gone, so
-- the next run leaves it. Off unless a row exists.
CREATE TABLE form_retention (
    form_id    integer PRIMARY KEY REFERENCES forms (id),
    months     integer NOT NULL
               CONSTRAINT form_retention_months_check CHECK (months BETWEEN 1 AND 1200),
    scope      text NOT NULL
               CONSTRAINT form_retention_scope_check CHECK (scope IN ('whole', 'sensitive')),
    updated_by integer REFERENCES actors (id),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE submissions_all ADD COLUMN fields_erased_at timestamptz;

-- Row scopes (issue 24): a web user's access in a project can be limited to regions (a record's
-- `region`), support centres (a case's `centre` and every submission about that case) and
-- submitters (app users or web users). Several scopes of a user add up; no scope at all is the
-- whole project. An app user can be tied to a centre: its phone gets only that centre's cases.
-- db/scopes.py turns a scope into the WHERE fragment every read uses.

CREATE TABLE role_scopes (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id     integer NOT NULL REFERENCES actors (id),
    project_id   integer NOT NULL REFERENCES projects (id),
    kind         text NOT NULL CONSTRAINT role_scopes_kind_check
                 CHECK (kind IN ('region', 'centre', 'submitter')),
    value        text CONSTRAINT role_scopes_value_valid
                 CHECK (value IS NULL OR (length(btrim(value)) BETWEEN 1 AND 64 AND value = btrim(value))),
    submitter_id integer REFERENCES actors (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_scopes_one_target CHECK (
        (kind = 'submitter') = (submitter_id IS NOT NULL) AND (kind = 'submitter') = (value IS NULL))
);
CREATE UNIQUE INDEX role_scopes_unique
    ON role_scopes (actor_id, project_id, kind, coalesce(value, ''), coalesce(submitter_id, 0));

ALTER TABLE field_keys ADD COLUMN centre text
    CONSTRAINT field_keys_centre_valid CHECK (centre IS NULL OR length(btrim(centre)) BETWEEN 1 AND 64);

-- Denormalised for reads: a submission's region (its screening's region, else the answer of the
-- question named `region`, written at ingest) and the centre of the case it is about (kept by the
-- triggers below from the case entity's `centre`); an entity's centre (its current `centre`).
-- (On a database where 0050 already made `submissions` a view of `submissions_all`, the columns
-- go on the table and the view is made again to show them.)
DO $$
BEGIN
    IF to_regclass('submissions_all') IS NULL THEN
        ALTER TABLE submissions ADD COLUMN region text, ADD COLUMN centre text;
    ELSE
        ALTER TABLE submissions_all ADD COLUMN region text, ADD COLUMN centre text;
        CREATE OR REPLACE VIEW submissions AS
        SELECT * FROM submissions_all WHERE deleted_at IS NULL;
    END IF;
END;
$$;
ALTER TABLE entities ADD COLUMN centre text;

CREATE FUNCTION entity_defs_keep_centre() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.current THEN
        UPDATE entities SET centre = NEW.data ->> 'centre'
        WHERE id = NEW.entity_id AND centre IS DISTINCT FROM NEW.data ->> 'centre';
    END IF;
    IF NEW.submission_id IS NOT NULL THEN
        UPDATE submissions s SET centre = e.centre FROM entities e
        WHERE e.id = NEW.entity_id AND s.id = NEW.submission_id
          AND s.centre IS DISTINCT FROM e.centre;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entity_defs_centre AFTER INSERT ON entity_defs
    FOR EACH ROW EXECUTE FUNCTION entity_defs_keep_centre();

-- A case whose centre changes (a new version, or a referral) takes its submissions along.
CREATE FUNCTION entities_centre_to_submissions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE submissions s SET centre = NEW.centre
    WHERE s.id IN (SELECT d.submission_id FROM entity_defs d
                   WHERE d.entity_id = NEW.id AND d.submission_id IS NOT NULL)
      AND s.centre IS DISTINCT FROM NEW.centre;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entities_centre AFTER UPDATE OF centre ON entities
    FOR EACH ROW WHEN (OLD.centre IS DISTINCT FROM NEW.centre)
    EXECUTE FUNCTION entities_centre_to_submissions();

-- Backfill what is stored already.
UPDATE entities e SET centre = d.data ->> 'centre'
FROM entity_defs d WHERE d.entity_id = e.id AND d.current AND d.data ? 'centre';

UPDATE submissions s SET region = r.region
FROM (SELECT s2.id,
             coalesce(sc.region,
                      jsonb_path_query_first(v.answers,
                          'strict $.**.region ? (@.type() == "string" && @ != "")') #>> '{}')
                 AS region
      FROM submissions s2
      JOIN submission_versions v ON v.id = s2.current_version_id
      LEFT JOIN screenings sc ON sc.submission_id = s2.id) r
WHERE r.id = s.id AND r.region IS NOT NULL;

UPDATE submissions s SET centre = e.centre
FROM entity_defs d JOIN entities e ON e.id = d.entity_id
WHERE d.submission_id = s.id AND e.centre IS NOT NULL;

-- A scoped table reads in the table's order within the rows it may see.
DO $$
DECLARE
    target text := coalesce(to_regclass('submissions_all')::text, 'submissions');
BEGIN
    EXECUTE format('CREATE INDEX submissions_form_region_created ON %I '
                   '(form_id, region, created_at, id) WHERE region IS NOT NULL', target);
    EXECUTE format('CREATE INDEX submissions_form_centre_created ON %I '
                   '(form_id, centre, created_at, id) WHERE centre IS NOT NULL', target);
END;
$$;
CREATE INDEX entities_dataset_centre ON entities (dataset_id, centre) WHERE centre IS NOT NULL;
CREATE INDEX role_scopes_actor ON role_scopes (actor_id, project_id);

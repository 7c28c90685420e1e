-- Delete and restore as ODK Central (issue 25): a deleted submission is kept, restorable, for
-- FIELDSURVEY_TRASH_DAYS, then purged for good.
--
-- The table is renamed `submissions_all` and gets `deleted_at`; `submissions` becomes a simple
-- (automatically updatable) view of the live rows. Every read that names `submissions`
-- (tables, exports, OData, reports, the coordinator's view, screenings joined to their
-- submission) then leaves deleted ones out without being edited, and the writes that go
-- through the view (INSERT ... ON CONFLICT, UPDATE of the review state, SELECT ... FOR UPDATE)
-- act on the table underneath. The unique (form_id, instance_id) constraint stays on the
-- table, so a deleted instanceID cannot be sent again (Central: 409). Foreign keys follow the
-- table. Only trash code (db/trash.py) names `submissions_all`.
--
-- Live summary counts: a deletion takes the screening out of the deltas (-1), a restore puts
-- it back (+1); the screening triggers read the table, not the view, and ignore a deleted
-- submission (its screening is no longer counted).

ALTER TABLE submissions RENAME TO submissions_all;
ALTER TABLE submissions_all ADD COLUMN deleted_at timestamptz;
CREATE INDEX submissions_all_deleted ON submissions_all (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE VIEW submissions AS
SELECT * FROM submissions_all WHERE deleted_at IS NULL;

CREATE OR REPLACE FUNCTION summary_screening_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    gone timestamptz;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.consent_refused THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(review_state, 'received'), deleted_at INTO state, gone
        FROM submissions_all WHERE id = NEW.submission_id;
        IF gone IS NOT NULL THEN
            RETURN NULL;
        END IF;
    ELSE
        IF TG_OP = 'UPDATE' THEN
            IF (OLD.form_id, OLD.consent_refused, OLD.interview_date, OLD.rubric_version,
                OLD.region, OLD.district, OLD.sex, OLD.age_band, OLD.site_type, OLD.risk_level,
                OLD.exploitation_status, OLD.risk_groups, OLD.control_forms, OLD.exploitation_types)
               IS NOT DISTINCT FROM
               (NEW.form_id, NEW.consent_refused, NEW.interview_date, NEW.rubric_version,
                NEW.region, NEW.district, NEW.sex, NEW.age_band, NEW.site_type, NEW.risk_level,
                NEW.exploitation_status, NEW.risk_groups, NEW.control_forms, NEW.exploitation_types) THEN
                RETURN NULL;
            END IF;
        END IF;
        SELECT coalesce(review_state, 'received'), deleted_at INTO state, gone
        FROM submissions_all WHERE id = OLD.submission_id FOR SHARE;
        IF gone IS NOT NULL OR state IS NULL THEN
            -- a deleted submission's screening is not counted (purged: no row at all)
            RETURN NULL;
        END IF;
        IF NOT OLD.consent_refused THEN
            INSERT INTO summary_deltas (form_id, sign, month, review, rubric_version, region,
                district, sex, age_band, site_type, risk_level, exploitation_status, risk_groups,
                control_forms, exploitation_types)
            VALUES (OLD.form_id, -1, summary_month(OLD.interview_date), state,
                coalesce(OLD.rubric_version, ''), coalesce(OLD.region, ''),
                coalesce(OLD.district, ''), coalesce(OLD.sex, ''), coalesce(OLD.age_band, ''),
                coalesce(OLD.site_type, ''), coalesce(OLD.risk_level, ''),
                coalesce(OLD.exploitation_status, ''), coalesce(OLD.risk_groups, '{}'),
                coalesce(OLD.control_forms, '{}'), coalesce(OLD.exploitation_types, '{}'));
        END IF;
        IF TG_OP = 'DELETE' OR NEW.consent_refused THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO summary_deltas (form_id, sign, month, review, rubric_version, region, district,
        sex, age_band, site_type, risk_level, exploitation_status, risk_groups, control_forms,
        exploitation_types)
    VALUES (NEW.form_id, 1, summary_month(NEW.interview_date), state,
        coalesce(NEW.rubric_version, ''), coalesce(NEW.region, ''), coalesce(NEW.district, ''),
        coalesce(NEW.sex, ''), coalesce(NEW.age_band, ''), coalesce(NEW.site_type, ''),
        coalesce(NEW.risk_level, ''), coalesce(NEW.exploitation_status, ''),
        coalesce(NEW.risk_groups, '{}'), coalesce(NEW.control_forms, '{}'),
        coalesce(NEW.exploitation_types, '{}'));
    RETURN NULL;
END
$$;

-- Deleted (deleted_at set): its screening leaves the live counts; restored: it comes back.
CREATE FUNCTION summary_submission_trashed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO summary_deltas (form_id, sign, month, review, rubric_version, region, district,
        sex, age_band, site_type, risk_level, exploitation_status, risk_groups, control_forms,
        exploitation_types)
    SELECT sc.form_id, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END,
        summary_month(sc.interview_date), coalesce(NEW.review_state, 'received'),
        coalesce(sc.rubric_version, ''), coalesce(sc.region, ''), coalesce(sc.district, ''),
        coalesce(sc.sex, ''), coalesce(sc.age_band, ''), coalesce(sc.site_type, ''),
        coalesce(sc.risk_level, ''), coalesce(sc.exploitation_status, ''), sc.risk_groups,
        sc.control_forms, sc.exploitation_types
    FROM screenings sc
    WHERE sc.submission_id = NEW.id AND NOT sc.consent_refused;
    RETURN NULL;
END
$$;

CREATE TRIGGER summary_submission_trashed
AFTER UPDATE OF deleted_at ON submissions_all
FOR EACH ROW WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
EXECUTE FUNCTION summary_submission_trashed();

-- A purged submission leaves the entity versions it wrote (Central keeps the entity) without
-- their link to it.
ALTER TABLE entity_defs DROP CONSTRAINT entity_defs_submission_source;
ALTER TABLE entity_defs ADD CONSTRAINT entity_defs_submission_source
    CHECK (source_type = 'submission' OR submission_version_id IS NULL);

-- Entities in the trash, oldest first (the purge).
CREATE INDEX entities_deleted ON entities (deleted_at) WHERE deleted_at IS NOT NULL;

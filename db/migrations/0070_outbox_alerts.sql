-- The outbox: work that happens after a commit (alerts, webhooks) starts from an event row
-- written in the transaction that makes the change, so it exists exactly when the change
-- does. One worker (api/services/events.py, under an advisory lock across servers) hands
-- pending events to their handlers in id order and marks them handled in the transaction
-- that records what the handlers did; a restart finds the pending ones still pending.
--
-- `subject` names the record (submission/ID, entity/UUID, case/UUID): a record's changes are
-- serialized by its row lock, so its events' ids follow its commits, and an event is not
-- handled while an earlier one of the same record waits.
--
-- No foreign key to forms or actors: a purge (trash) must not be held up by an event.
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CONSTRAINT events_kind_shape CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    project_id  integer NOT NULL REFERENCES projects (id),
    subject     text NOT NULL,
    form_id     integer,
    actor_id    integer,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    handled_at  timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    retry_at    timestamptz,
    last_error  text
);
CREATE INDEX events_pending ON events (id) WHERE handled_at IS NULL;
CREATE INDEX events_pending_subject ON events (subject, id) WHERE handled_at IS NULL;
CREATE INDEX events_handled ON events (handled_at) WHERE handled_at IS NOT NULL;

-- Every store path writes its event through these triggers, whoever wrote the row: OpenRosa,
-- REST, the browser, the CLI. A submission's version: created (the first) or updated (an
-- edit names the version it replaces).
CREATE FUNCTION submission_version_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, project_id, subject, form_id, actor_id, details)
    SELECT CASE WHEN NEW.deprecated_id IS NULL THEN 'submission.created'
                ELSE 'submission.updated' END,
           f.project_id, 'submission/' || NEW.submission_id, NEW.form_id, NEW.submitter_id,
           jsonb_build_object('submissionId', NEW.submission_id, 'versionId', NEW.id)
    FROM forms f WHERE f.id = NEW.form_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER submission_versions_event AFTER INSERT ON submission_versions
    FOR EACH ROW EXECUTE FUNCTION submission_version_event();

-- A review decision (an edit sets `edited`, which is the edit's event).
CREATE FUNCTION submission_review_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, project_id, subject, form_id, details)
    SELECT 'submission.reviewed', f.project_id, 'submission/' || NEW.id, NEW.form_id,
           jsonb_build_object('submissionId', NEW.id, 'versionId', NEW.current_version_id,
                              'reviewState', NEW.review_state,
                              'previousReviewState', OLD.review_state)
    FROM forms f WHERE f.id = NEW.form_id;
    RETURN NULL;
END;
$$;
-- (on the table under the `submissions` view of migration 0050: updates through the view
-- reach it)
CREATE TRIGGER submissions_review_event AFTER UPDATE OF review_state ON submissions_all
    FOR EACH ROW
    WHEN (NEW.review_state IS DISTINCT FROM OLD.review_state
          AND NEW.review_state IN ('approved', 'hasIssues', 'rejected'))
    EXECUTE FUNCTION submission_review_event();

-- An entity's version: created (version 1) or updated (any later one).
CREATE FUNCTION entity_version_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, project_id, subject, actor_id, details)
    SELECT CASE WHEN NEW.version = 1 THEN 'entity.created' ELSE 'entity.updated' END,
           d.project_id, 'entity/' || e.uuid, NEW.creator_id,
           jsonb_build_object('uuid', e.uuid, 'dataset', d.name, 'version', NEW.version,
                              'entityDefId', NEW.id, 'submissionId', NEW.submission_id)
    FROM entities e JOIN datasets d ON d.id = e.dataset_id WHERE e.id = NEW.entity_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER entity_defs_event AFTER INSERT ON entity_defs
    FOR EACH ROW EXECUTE FUNCTION entity_version_event();

-- Alerts to web users, in the app and by email. One alert per event (or due date) and person:
-- `once_key` is unique per user, so a handler run twice adds nothing. `details` holds codes
-- (form, risk level, region), never an answer: pages and emails put them into the reader's
-- language when they show them.
CREATE TABLE alerts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        integer NOT NULL REFERENCES users (actor_id),
    project_id     integer NOT NULL REFERENCES projects (id),
    kind           text NOT NULL,
    once_key       text NOT NULL,
    link           text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    in_app         boolean NOT NULL,
    read_at        timestamptz,
    -- email: NULL when none is to be sent; else pending until sent or given up
    email_to       text,
    email_state    text CONSTRAINT alerts_email_state_check
                   CHECK (email_state IN ('pending', 'sent', 'failed')),
    email_attempts integer NOT NULL DEFAULT 0,
    email_retry_at timestamptz,
    email_error    text,
    emailed_at     timestamptz,
    CONSTRAINT alerts_once UNIQUE (user_id, once_key),
    CONSTRAINT alerts_email_state_set CHECK ((email_to IS NULL) = (email_state IS NULL))
);
CREATE INDEX alerts_unread ON alerts (user_id, id) WHERE in_app AND read_at IS NULL;
CREATE INDEX alerts_of_user ON alerts (user_id, id) WHERE in_app;
CREATE INDEX alerts_email_pending ON alerts (id) WHERE email_state = 'pending';

-- Each user's choice per kind of alert: {"screening": {"app": true, "email": false}, ...};
-- a kind not named takes the defaults (api/services/alerts.py).
ALTER TABLE users ADD COLUMN alert_preferences jsonb NOT NULL DEFAULT '{}'::jsonb;

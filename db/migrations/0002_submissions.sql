-- Submissions as ODK Central keeps them: a logical submission (keyed by its first instanceID)
-- with one or more versions (edits). The original XML is the record of truth; `answers` is its
-- JSON form for queries; attachments are files in a store, listed here.

CREATE TABLE submissions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    form_id            integer NOT NULL REFERENCES forms (id),
    instance_id        text NOT NULL,          -- the first version's instanceID: the API's key
    submitter_id       integer REFERENCES actors (id),
    device_id          text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz,
    review_state       text CONSTRAINT submissions_review_state_check
                       CHECK (review_state IN ('hasIssues', 'edited', 'approved', 'rejected')),
    current_version_id bigint,
    edits              integer NOT NULL DEFAULT 0,
    CONSTRAINT submissions_form_instance_unique UNIQUE (form_id, instance_id)
);
CREATE INDEX submissions_form_created ON submissions (form_id, created_at, id);

CREATE TABLE submission_versions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id        bigint NOT NULL REFERENCES submissions (id),
    form_id              integer NOT NULL REFERENCES forms (id),
    form_def_id          integer NOT NULL REFERENCES form_defs (id),
    instance_id          text NOT NULL,        -- this version's meta/instanceID
    deprecated_id        text,
    instance_name        text,
    xml                  bytea NOT NULL,
    xml_md5              bytea NOT NULL,
    answers              jsonb NOT NULL,
    submitter_id         integer REFERENCES actors (id),
    device_id            text,
    user_agent           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    current              boolean NOT NULL DEFAULT true,
    attachments_expected integer NOT NULL DEFAULT 0,
    attachments_present  integer NOT NULL DEFAULT 0,
    CONSTRAINT submission_versions_form_instance_unique UNIQUE (form_id, instance_id)
);
CREATE INDEX submission_versions_submission ON submission_versions (submission_id);

ALTER TABLE submissions ADD CONSTRAINT submissions_current_version_fk
    FOREIGN KEY (current_version_id) REFERENCES submission_versions (id) DEFERRABLE INITIALLY DEFERRED;

-- Files of a submission version. `blob_key` names the content in the attachment store
-- (sha256 of the bytes); NULL while expected but not yet uploaded.
CREATE TABLE submission_attachments (
    version_id   bigint NOT NULL REFERENCES submission_versions (id),
    name         text NOT NULL,
    blob_key     text,
    content_type text,
    size         bigint,
    uploaded_at  timestamptz,
    CONSTRAINT submission_attachments_pk PRIMARY KEY (version_id, name)
);

CREATE TABLE submission_comments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id bigint NOT NULL REFERENCES submissions (id),
    actor_id      integer REFERENCES actors (id),
    body          text NOT NULL CONSTRAINT submission_comments_body_not_blank CHECK (length(btrim(body)) > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submission_comments_submission ON submission_comments (submission_id);

-- App users see only the forms they are assigned to (as in ODK Central).
CREATE TABLE form_assignments (
    actor_id   integer NOT NULL REFERENCES actors (id),
    form_id    integer NOT NULL REFERENCES forms (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT form_assignments_pk PRIMARY KEY (actor_id, form_id)
);

-- Digest authentication for web users logging in from Collect needs HA1 = MD5(user:realm:pw).
ALTER TABLE users ADD COLUMN digest_ha1 text;

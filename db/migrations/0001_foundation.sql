-- Foundation: actors (web users and app users), sessions, projects, roles, forms, audit log.

CREATE TABLE projects (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT projects_name_unique UNIQUE
                CONSTRAINT projects_name_not_blank CHECK (length(btrim(name)) > 0),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived    boolean NOT NULL DEFAULT false
);

-- An actor is anyone who can act: a web user or an app user (a phone's token), as in ODK Central.
CREATE TABLE actors (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type         text NOT NULL CONSTRAINT actors_type_check CHECK (type IN ('user', 'field_key')),
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz,
    deleted_at   timestamptz
);

CREATE TABLE users (
    actor_id      integer PRIMARY KEY REFERENCES actors (id),
    email         text NOT NULL,
    password_hash text,            -- argon2id; never the password
    is_admin      boolean NOT NULL DEFAULT false,
    CONSTRAINT users_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX users_email_unique ON users (email);

-- Bearer tokens: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    actor_id    integer NOT NULL REFERENCES actors (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_actor ON sessions (actor_id);

-- App users (Central's "field keys"): a long-lived token in the Collect server URL.
CREATE TABLE field_keys (
    actor_id    integer PRIMARY KEY REFERENCES actors (id),
    project_id  integer NOT NULL REFERENCES projects (id),
    token       text NOT NULL CONSTRAINT field_keys_token_unique UNIQUE,
    created_by  integer REFERENCES actors (id),
    revoked_at  timestamptz
);
CREATE INDEX field_keys_project ON field_keys (project_id);

CREATE TABLE assignments (
    actor_id   integer NOT NULL REFERENCES actors (id),
    project_id integer NOT NULL REFERENCES projects (id),
    role       text NOT NULL CONSTRAINT assignments_role_check
               CHECK (role IN ('manager', 'researcher', 'ministry', 'collector')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assignments_unique PRIMARY KEY (actor_id, project_id, role)
);

CREATE TABLE forms (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id     integer NOT NULL REFERENCES projects (id),
    xml_form_id    text NOT NULL,
    state          text NOT NULL DEFAULT 'open'
                   CONSTRAINT forms_state_check CHECK (state IN ('open', 'closing', 'closed')),
    current_def_id integer,   -- the published version, NULL until first publish
    draft_def_id   integer,   -- the draft, NULL when none
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz,
    deleted_at     timestamptz,
    CONSTRAINT forms_project_xml_form_id_unique UNIQUE (project_id, xml_form_id)
);

CREATE TABLE form_defs (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    form_id      integer NOT NULL REFERENCES forms (id),
    version      text NOT NULL,
    title        text NOT NULL,
    xlsform      bytea,              -- the uploaded XLSForm, when it came as one
    xlsform_name text,
    xform        text NOT NULL,
    md5          text NOT NULL,      -- md5 of the UTF-8 bytes of xform, as served
    keys         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE UNIQUE INDEX form_defs_published_version_unique
    ON form_defs (form_id, version) WHERE published_at IS NOT NULL;
CREATE INDEX form_defs_form ON form_defs (form_id);

ALTER TABLE forms
    ADD CONSTRAINT forms_current_def_fk FOREIGN KEY (current_def_id) REFERENCES form_defs (id),
    ADD CONSTRAINT forms_draft_def_fk FOREIGN KEY (draft_def_id) REFERENCES form_defs (id);

-- Files a form needs on the phone (images, CSVs for select_one_from_file / pulldata).
CREATE TABLE form_attachments (
    form_def_id  integer NOT NULL REFERENCES form_defs (id),
    name         text NOT NULL,
    content_type text NOT NULL DEFAULT 'application/octet-stream',
    content      bytea,
    md5          text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT form_attachments_pk PRIMARY KEY (form_def_id, name)
);

-- Append-only audit log.
CREATE TABLE audits (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id  integer REFERENCES actors (id),
    action    text NOT NULL,
    acted_on  text,
    details   jsonb,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audits_action_time ON audits (action, logged_at);
CREATE INDEX audits_time ON audits (logged_at);

CREATE FUNCTION audits_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audits_no_update_delete BEFORE UPDATE OR DELETE ON audits
    FOR EACH ROW EXECUTE FUNCTION audits_append_only();
CREATE TRIGGER audits_no_truncate BEFORE TRUNCATE ON audits
    FOR EACH STATEMENT EXECUTE FUNCTION audits_append_only();

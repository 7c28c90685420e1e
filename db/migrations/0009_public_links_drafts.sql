-- Browser filling (ODK Web Forms): public access links and draft test submissions.

-- A public access link is an actor, as in ODK Central: it may open one form and submit to it,
-- with no login. Its token is in the link's address; revoking ends it for good.
ALTER TABLE actors DROP CONSTRAINT actors_type_check;
ALTER TABLE actors ADD CONSTRAINT actors_type_check
    CHECK (type IN ('user', 'field_key', 'public_link'));

CREATE TABLE public_links (
    actor_id    integer PRIMARY KEY REFERENCES actors (id),
    form_id     integer NOT NULL REFERENCES forms (id),
    once        boolean NOT NULL DEFAULT false,  -- one submission per browser
    token       text NOT NULL CONSTRAINT public_links_token_unique UNIQUE,
    created_by  integer REFERENCES actors (id),
    revoked_at  timestamptz
);
CREATE INDEX public_links_form ON public_links (form_id);

-- What a coordinator submits while trying a draft (the preview page). Kept apart from the
-- data, as Central keeps draft test submissions: no export, summary, OData feed or
-- submissions table reads this table. Parsed and classified by the same ingest path.
CREATE TABLE draft_submissions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    form_id      integer NOT NULL REFERENCES forms (id),
    form_def_id  integer NOT NULL REFERENCES form_defs (id),
    instance_id  text NOT NULL,
    xml          bytea NOT NULL,
    answers      jsonb NOT NULL,
    screening    jsonb,            -- the rubric's result for a risk screening, else NULL
    attachments  jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{name, blobKey, contentType, size}]
    submitter_id integer REFERENCES actors (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT draft_submissions_def_instance_unique UNIQUE (form_def_id, instance_id)
);
CREATE INDEX draft_submissions_form ON draft_submissions (form_id, created_at);

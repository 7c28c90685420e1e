-- ODK Entities as ODK Central keeps them: entity lists (datasets) with properties, entities with
-- versions (entity_defs). A form version that declares entities is linked to its datasets with
-- the actions it may take; a form attachment named {dataset}.csv is served from the dataset.
-- Offline updates (Collect >= v2024.3) carry trunkVersion/branchId; a version whose base is not
-- the current version is a conflict (soft, or hard when the same property changed on both sides).

CREATE TABLE datasets (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id        integer NOT NULL REFERENCES projects (id),
    name              text NOT NULL
                      -- the full rule (Central's) is checked in api/services/entities.py
                      CONSTRAINT datasets_name_valid CHECK (name !~ '[[:space:]./]' AND name <> ''
                                                            AND name NOT LIKE '\_\_%'),
    approval_required boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz,
    CONSTRAINT datasets_project_name_unique UNIQUE (project_id, name)
);
-- Central refuses a name that differs from an existing one only in case (409.16).
CREATE UNIQUE INDEX datasets_project_lower_name_unique ON datasets (project_id, lower(name));

CREATE TABLE dataset_properties (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id integer NOT NULL REFERENCES datasets (id),
    name       text NOT NULL
               CONSTRAINT dataset_properties_name_valid CHECK (
                   name !~ '[[:space:]/]' AND name <> '' AND name NOT LIKE '\_\_%'
                   AND lower(name) NOT IN ('name', 'label')),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT dataset_properties_dataset_name_unique UNIQUE (dataset_id, name)
);

-- Which published form versions write to a dataset, and which entity actions they declare.
CREATE TABLE dataset_form_defs (
    dataset_id  integer NOT NULL REFERENCES datasets (id),
    form_def_id integer NOT NULL REFERENCES form_defs (id),
    actions     text[] NOT NULL
                CONSTRAINT dataset_form_defs_actions_valid CHECK (actions <@ ARRAY['create', 'update']),
    CONSTRAINT dataset_form_defs_pk PRIMARY KEY (dataset_id, form_def_id)
);
CREATE INDEX dataset_form_defs_form_def ON dataset_form_defs (form_def_id);

-- Which form versions save a field to a property (the property's "forms").
CREATE TABLE dataset_property_fields (
    property_id integer NOT NULL REFERENCES dataset_properties (id),
    form_def_id integer NOT NULL REFERENCES form_defs (id),
    path        text NOT NULL,
    CONSTRAINT dataset_property_fields_pk PRIMARY KEY (property_id, form_def_id, path)
);

CREATE TABLE entities (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id integer NOT NULL REFERENCES datasets (id),
    uuid       uuid NOT NULL CONSTRAINT entities_uuid_unique UNIQUE,
    creator_id integer REFERENCES actors (id),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz,
    deleted_at timestamptz,
    conflict   text CONSTRAINT entities_conflict_check CHECK (conflict IN ('soft', 'hard'))
);
CREATE INDEX entities_dataset_created ON entities (dataset_id, created_at, id);

CREATE TABLE entity_defs (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id              bigint NOT NULL REFERENCES entities (id),
    version                integer NOT NULL CONSTRAINT entity_defs_version_positive CHECK (version >= 1),
    base_version           integer,    -- the version the writer saw (NULL for the creation)
    trunk_version          integer,    -- offline: the last server version the phone had
    branch_id              uuid,       -- offline: one phone's run of updates to the entity
    branch_base_version    integer,    -- offline: baseVersion as the phone numbered it
    root                   boolean NOT NULL,
    current                boolean NOT NULL,
    label                  text NOT NULL CONSTRAINT entity_defs_label_not_blank CHECK (length(btrim(label)) > 0),
    data                   jsonb NOT NULL,  -- every property after this version
    data_received          jsonb NOT NULL,  -- what this version's writer sent (label included)
    conflicting_properties text[],          -- properties both sides changed (a hard conflict)
    creator_id             integer REFERENCES actors (id),
    user_agent             text,
    source_type            text NOT NULL
                           CONSTRAINT entity_defs_source_type_check CHECK (source_type IN ('api', 'bulk', 'submission')),
    source_details         jsonb,
    submission_id          bigint REFERENCES submissions (id),
    submission_version_id  bigint REFERENCES submission_versions (id),
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT entity_defs_entity_version_unique UNIQUE (entity_id, version),
    CONSTRAINT entity_defs_submission_source CHECK ((source_type = 'submission') = (submission_version_id IS NOT NULL))
);
CREATE UNIQUE INDEX entity_defs_one_current ON entity_defs (entity_id) WHERE current;
-- A submission version writes an entity at most once (re-processing it changes nothing).
CREATE UNIQUE INDEX entity_defs_submission_version_entity
    ON entity_defs (submission_version_id, entity_id) WHERE submission_version_id IS NOT NULL;
CREATE INDEX entity_defs_branch ON entity_defs (branch_id, branch_base_version) WHERE branch_id IS NOT NULL;

-- Offline updates that arrived before the update they follow in their branch: held here and
-- applied when that one arrives (as Central's entity_submission_backlog).
CREATE TABLE entity_submission_backlog (
    submission_version_id bigint PRIMARY KEY REFERENCES submission_versions (id),
    entity_uuid           uuid NOT NULL,
    branch_id             uuid NOT NULL,
    branch_base_version   integer NOT NULL,
    logged_at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX entity_submission_backlog_branch
    ON entity_submission_backlog (branch_id, branch_base_version);

-- A form attachment named {dataset}.csv is served from the dataset's entities.
ALTER TABLE form_attachments ADD COLUMN dataset_id integer REFERENCES datasets (id);

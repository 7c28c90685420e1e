-- Disclosure control, version 2 (shared/spec/summaries.md): record keys and publications.
--
-- * screenings.record_key: a random key in [0, 2^32) given to every screening when it is
--   stored (api/ingest.py passes one from the `secrets` module; the default covers bulk loads
--   and the rows stored before this migration) and kept through edits and reclassification.
--   A published cell's adjustment is looked up from the sum of its records' keys (mod 2^32).
-- * publications: what roles without microdata see. One per project and closed month, made
--   from everything stored at that moment and never changed afterwards.
-- * publication_members: the screenings a publication counts, with the version it counted
--   (reports under disclosure control read exactly these versions).
-- * publication_months: per month of interview, a fingerprint of its members and the salt
--   added to each of their keys in this publication: a month whose content is unchanged keeps
--   the salt of the publication before, so its cells keep their values; a revised month gets a
--   new salt, so that every one of its cells changes, not only those of the late screenings.
-- * publication_cells: the publication's counts by month of interview (0: date unknown) for
--   no dimension, each dimension and each pair of dimensions (`dims` is the bit set of the
--   dimension numbers of db/summaries.py; a holds the lower-numbered one's value, b the other).
--   n is the true count; key_sum the sum of the records' keys plus their months' salts, mod 2^32.

ALTER TABLE screenings ADD COLUMN record_key bigint NOT NULL
    DEFAULT (('x' || left(replace(gen_random_uuid()::text, '-', ''), 8))::bit(32)::bigint)
    CONSTRAINT screenings_record_key_range CHECK (record_key >= 0 AND record_key < 4294967296);

CREATE TABLE publications (
    id            bigserial PRIMARY KEY,
    project_id    integer NOT NULL REFERENCES projects (id),
    through_month integer NOT NULL,      -- YYYYMM: data of interviews through this month
    published_at  timestamptz NOT NULL DEFAULT now(),
    revised       integer[] NOT NULL DEFAULT '{}',  -- months changed since the publication before
    rubric_versions text[] NOT NULL DEFAULT '{}',
    CONSTRAINT publications_one_per_month UNIQUE (project_id, through_month)
);

CREATE TABLE publication_members (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    submission_id  bigint NOT NULL,
    version_id     bigint NOT NULL,
    form_id        integer NOT NULL,
    month          integer NOT NULL,
    record_key     bigint NOT NULL,
    CONSTRAINT publication_members_pk PRIMARY KEY (publication_id, submission_id)
);
CREATE INDEX publication_members_form ON publication_members (publication_id, form_id);

CREATE TABLE publication_months (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    month          integer NOT NULL,
    fingerprint    text NOT NULL,
    salt           bigint NOT NULL,
    CONSTRAINT publication_months_pk PRIMARY KEY (publication_id, month)
);

CREATE TABLE publication_cells (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    dims           integer NOT NULL,
    month          integer NOT NULL,
    a              text NOT NULL DEFAULT '',
    b              text NOT NULL DEFAULT '',
    n              integer NOT NULL,
    key_sum        bigint NOT NULL,
    CONSTRAINT publication_cells_pk PRIMARY KEY (publication_id, dims, month, a, b)
);

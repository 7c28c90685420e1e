-- Published tables kept whole, and keys that never change (shared/spec/summaries.md, v2).
--
-- * publication_tables: a publication's large tables (api/services/summaries.py,
--   PRECOMPUTED_CELLS), each as the published values it shows, for one k: made in the
--   background when the publication is made (every table without a filter or a range) or
--   when one is first asked for (the others), so that a request for one is one indexed read.
--   A publication never changes, so neither does a table of it. `request` is the table's
--   request in a canonical text; `body` the zlib-compressed JSON of its listed values and its
--   slices' published values (null: suppressed).
-- * From this migration on, a month's salt (publication_months.salt) and a project's case
--   salt (publications.cases_salt) are drawn once, by the first publication that has the month
--   (or any case), and kept by every later one, revised or not (db/publications.py): a
--   person's key never changes, so the same set of persons gets the same published value in
--   every publication (0012's and 0017's notes describe the redraw this replaces).
CREATE TABLE publication_tables (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    k              integer NOT NULL,
    request        text NOT NULL,
    body           bytea NOT NULL,
    CONSTRAINT publication_tables_pk PRIMARY KEY (publication_id, k, request)
);

-- Reintegration summaries from publications (shared/spec/summaries.md, version 2): what roles
-- without microdata see of support-centre cases is frozen in the project's monthly publication,
-- like the screenings' cells (0012), never read live.
--
-- * publication_cases: every case the publication counts, in its state at the end of the
--   publication's month (the newest version whose visit, or opening, is in or before that
--   month, among the versions stored when the publication was made), as the coded values the
--   reintegration tables break down by (never a case code, label or free text). record_key is
--   the case's key (a keyed hash of its uuid, migration 0014) plus the publication's case salt,
--   mod 2^32.
-- * publications.cases_fingerprint / cases_salt / cases_revised: a publication whose cases are
--   those of the publication before, in the same states, keeps its salt (same cells, same
--   values); otherwise every case cell is drawn anew (a new salt) and the publication says that
--   the reintegration counts are revised.

ALTER TABLE publications
    ADD COLUMN cases_fingerprint text NOT NULL DEFAULT '',
    ADD COLUMN cases_salt bigint NOT NULL DEFAULT 0,
    ADD COLUMN cases_revised boolean NOT NULL DEFAULT false;

CREATE TABLE publication_cases (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    record_key     bigint NOT NULL,
    state          jsonb NOT NULL
);
CREATE INDEX publication_cases_publication ON publication_cases (publication_id);

-- * publication_rollups: a publication's cells summed by quarter (grain 1, period YYYYq), year
--   (grain 2, period YYYY) and over everything (grain 3, period 0), as publication_cells keeps
--   them by month (period 0: date unknown), so that a table of a whole quarter, year or of
--   everything reads its cells instead of summing every month's (the same persons, the same
--   key: the same published values). Made with the publication; filled here for those before.
CREATE TABLE publication_rollups (
    publication_id bigint NOT NULL REFERENCES publications (id) ON DELETE CASCADE,
    dims           integer NOT NULL,
    grain          smallint NOT NULL CONSTRAINT publication_rollups_grain CHECK (grain IN (1, 2, 3)),
    period         integer NOT NULL,
    a              text NOT NULL DEFAULT '',
    b              text NOT NULL DEFAULT '',
    n              integer NOT NULL,
    key_sum        bigint NOT NULL,
    CONSTRAINT publication_rollups_pk PRIMARY KEY (publication_id, dims, grain, period, a, b)
);
INSERT INTO publication_rollups (publication_id, dims, grain, period, a, b, n, key_sum)
SELECT c.publication_id, c.dims, g.grain,
       CASE g.grain WHEN 1 THEN (c.month / 100) * 10 + ((c.month % 100) + 2) / 3
                    WHEN 2 THEN c.month / 100 ELSE 0 END AS period,
       c.a, c.b, sum(c.n)::integer, (sum(c.key_sum) % 4294967296)::bigint
FROM publication_cells c CROSS JOIN (VALUES (1), (2), (3)) AS g(grain)
GROUP BY c.publication_id, c.dims, g.grain, 4, c.a, c.b;

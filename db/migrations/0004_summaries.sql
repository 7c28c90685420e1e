-- Risk-group summaries read from aggregates, never from scanning submissions or screenings.
--
-- Writes append to `summary_deltas` (one row per +1/-1 change of a classified screening's
-- dimensions or review state), filled by triggers: an insert costs one more small insert (and
-- one index entry), so concurrent ingests never wait on each other's aggregate rows.
-- `db/summaries.py` folds the deltas into the aggregates in batches (one folder at a time,
-- under an advisory lock), and every read adds the deltas not folded yet, so a read is always
-- current.
--
-- Aggregates, all keyed by form, month of the interview (YYYYMM, 0 when unknown) and review
-- state ('received' for none):
-- * summary_cells: counts by a few dimensions at a time, one "shape" (a set of dimensions,
--   listed in summary_shapes; bit i of `shape` is dimension i of db/summaries.py) per group of
--   rows, values in a..f in dimension order ('' past the shape's own), each count kept by
--   month, by year and for all time (`grain` 0, 1, 2) so that a table of a whole year or of
--   everything reads a 12th or a 36th of the rows a monthly one does. A multi-valued
--   dimension (risk groups, control forms, exploitation types) counts a person once in each
--   of their values. Every pair of dimensions is a shape from the start; a table that needs a
--   set of dimensions no shape covers gets its shape built (from summary_wide) on first use.
-- * summary_wide: counts by every dimension at once (multi-valued ones as sorted arrays): the
--   source new shapes are built from, and the answer for tables no shape can serve.
-- * summary_versions: counts by rubric version.
-- Unknown values are stored as '' (a key column cannot be NULL).

CREATE TABLE summary_deltas (
    form_id             integer NOT NULL,
    sign                smallint NOT NULL CONSTRAINT summary_deltas_sign_check CHECK (sign IN (-1, 1)),
    month               integer NOT NULL,
    review              text NOT NULL,
    rubric_version      text NOT NULL,
    region              text NOT NULL,
    district            text NOT NULL,
    sex                 text NOT NULL,
    age_band            text NOT NULL,
    site_type           text NOT NULL,
    risk_level          text NOT NULL,
    exploitation_status text NOT NULL,
    risk_groups         text[] NOT NULL,
    control_forms       text[] NOT NULL,
    exploitation_types  text[] NOT NULL
);
-- Reads add the pending deltas of their forms and months: through this index, so that a table
-- left large by a burst (a bulk load, a reclassification) is not scanned page by page.
CREATE INDEX summary_deltas_form_month ON summary_deltas (form_id, month);

CREATE TABLE summary_shapes (
    shape      integer PRIMARY KEY,
    dims       smallint[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT summary_shapes_size CHECK (cardinality(dims) BETWEEN 2 AND 6)
);
-- Every pair of the ten dimensions, and the dashboard's risk level by region by sex, age band
-- or site type.
INSERT INTO summary_shapes (shape, dims)
SELECT (1 << i) | (1 << j), ARRAY[i, j]::smallint[]
FROM generate_series(0, 9) i, generate_series(0, 9) j WHERE i < j;
INSERT INTO summary_shapes (shape, dims) VALUES
    ((1 << 0) | (1 << 2) | (1 << 5), '{0,2,5}'),
    ((1 << 0) | (1 << 3) | (1 << 5), '{0,3,5}'),
    ((1 << 0) | (1 << 4) | (1 << 5), '{0,4,5}');

CREATE TABLE summary_cells (
    shape   integer NOT NULL,
    form_id integer NOT NULL,
    grain   smallint NOT NULL CONSTRAINT summary_cells_grain_check CHECK (grain IN (0, 1, 2)),
    month   integer NOT NULL,   -- grain 0: YYYYMM (0: date unknown); 1: YYYY; 2: 0 (all time)
    review  text NOT NULL,
    a       text NOT NULL,
    b       text NOT NULL,
    c       text NOT NULL DEFAULT '',
    d       text NOT NULL DEFAULT '',
    e       text NOT NULL DEFAULT '',
    f       text NOT NULL DEFAULT '',
    n       integer NOT NULL,
    CONSTRAINT summary_cells_pk PRIMARY KEY (shape, form_id, grain, month, review, a, b, c, d, e, f)
);
CREATE INDEX summary_cells_zero ON summary_cells (shape) WHERE n = 0;

CREATE TABLE summary_wide (
    form_id             integer NOT NULL,
    month               integer NOT NULL,
    review              text NOT NULL,
    region              text NOT NULL,
    district            text NOT NULL,
    sex                 text NOT NULL,
    age_band            text NOT NULL,
    site_type           text NOT NULL,
    risk_level          text NOT NULL,
    exploitation_status text NOT NULL,
    risk_groups         text[] NOT NULL,
    control_forms       text[] NOT NULL,
    exploitation_types  text[] NOT NULL,
    n                   integer NOT NULL,
    CONSTRAINT summary_wide_pk PRIMARY KEY (form_id, month, review, region, district, sex, age_band,
        site_type, risk_level, exploitation_status, risk_groups, control_forms, exploitation_types)
);
CREATE INDEX summary_wide_zero ON summary_wide (form_id) WHERE n = 0;

CREATE TABLE summary_versions (
    form_id        integer NOT NULL,
    month          integer NOT NULL,
    review         text NOT NULL,
    rubric_version text NOT NULL,
    n              integer NOT NULL,
    CONSTRAINT summary_versions_pk PRIMARY KEY (form_id, month, review, rubric_version)
);

CREATE FUNCTION summary_month(d date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((extract(year FROM d) * 100 + extract(month FROM d))::integer, 0);

CREATE FUNCTION summary_sorted(a text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(SELECT DISTINCT x FROM unnest(coalesce(a, '{}')) x WHERE x IS NOT NULL ORDER BY x);

-- A screening inserted, re-classified (edit, reclassify) or deleted: -1 for the old row, +1
-- for the new one; refusals are not counted. The review state is read from the submission; on
-- a change of an existing screening its row is locked (FOR SHARE) so that a concurrent change
-- of the review state cannot interleave. PL/pgSQL keeps the INSERT's plan; arrays are sorted
-- when folded, not here, to keep an ingest cheap.
CREATE FUNCTION summary_screening_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.consent_refused THEN
            RETURN NULL;
        END IF;
        SELECT coalesce(review_state, 'received') INTO state FROM submissions WHERE id = NEW.submission_id;
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
        SELECT coalesce(review_state, 'received') INTO state FROM submissions
        WHERE id = OLD.submission_id FOR SHARE;
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

CREATE TRIGGER summary_screening_changed
AFTER INSERT OR UPDATE OR DELETE ON screenings
FOR EACH ROW EXECUTE FUNCTION summary_screening_changed();

-- A submission's review state changed: move its screening from one state to the other.
CREATE FUNCTION summary_review_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO summary_deltas (form_id, sign, month, review, rubric_version, region, district,
        sex, age_band, site_type, risk_level, exploitation_status, risk_groups, control_forms,
        exploitation_types)
    SELECT sc.form_id, x.sign, summary_month(sc.interview_date), x.review,
        coalesce(sc.rubric_version, ''), coalesce(sc.region, ''), coalesce(sc.district, ''),
        coalesce(sc.sex, ''), coalesce(sc.age_band, ''), coalesce(sc.site_type, ''),
        coalesce(sc.risk_level, ''), coalesce(sc.exploitation_status, ''), sc.risk_groups,
        sc.control_forms, sc.exploitation_types
    FROM screenings sc,
         (VALUES (-1::smallint, coalesce(OLD.review_state, 'received')),
                 (1::smallint, coalesce(NEW.review_state, 'received'))) AS x(sign, review)
    WHERE sc.submission_id = NEW.id AND NOT sc.consent_refused;
    RETURN NULL;
END
$$;

CREATE TRIGGER summary_review_changed
AFTER UPDATE OF review_state ON submissions
FOR EACH ROW WHEN (OLD.review_state IS DISTINCT FROM NEW.review_state)
EXECUTE FUNCTION summary_review_changed();

-- Screenings stored before this migration.
INSERT INTO summary_deltas (form_id, sign, month, review, rubric_version, region, district, sex,
    age_band, site_type, risk_level, exploitation_status, risk_groups, control_forms,
    exploitation_types)
SELECT sc.form_id, 1, summary_month(sc.interview_date), coalesce(s.review_state, 'received'),
    coalesce(sc.rubric_version, ''), coalesce(sc.region, ''), coalesce(sc.district, ''),
    coalesce(sc.sex, ''), coalesce(sc.age_band, ''), coalesce(sc.site_type, ''),
    coalesce(sc.risk_level, ''), coalesce(sc.exploitation_status, ''),
    sc.risk_groups, sc.control_forms, sc.exploitation_types
FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
WHERE NOT sc.consent_refused;

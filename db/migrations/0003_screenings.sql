-- The risk rubric's result for every risk_screening submission (its current version),
-- in columns fit for aggregation, beside the dimensions summaries group by.

CREATE TABLE screenings (
    submission_id        bigint PRIMARY KEY REFERENCES submissions (id),
    version_id           bigint NOT NULL REFERENCES submission_versions (id),
    form_id              integer NOT NULL REFERENCES forms (id),
    consent_refused      boolean NOT NULL,
    rubric_version       text,     -- NULL for a refusal: it gets no result
    vulnerability_score  integer CONSTRAINT screenings_score_nonnegative CHECK (vulnerability_score >= 0),
    vulnerability_level  text CONSTRAINT screenings_vulnerability_level_check
                         CHECK (vulnerability_level IN ('low', 'medium', 'high')),
    exploitation_status  text CONSTRAINT screenings_exploitation_status_check
                         CHECK (exploitation_status IN ('not_screened', 'possible_trafficking',
                                'forced_labour_indicated', 'incomplete', 'rights_violation', 'none')),
    urgent               boolean,
    risk_level           text CONSTRAINT screenings_risk_level_check
                         CHECK (risk_level IN ('low', 'medium', 'high')),
    risk_groups          text[] NOT NULL DEFAULT '{}',
    control_forms        text[] NOT NULL DEFAULT '{}',
    exploitation_types   text[] NOT NULL DEFAULT '{}',
    needs_review         boolean,
    region               text,
    district             text,
    sex                  text,
    age                  integer,
    age_band             text,
    site_type            text,
    interview_date       date,
    classified_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT screenings_result_complete CHECK (
        consent_refused OR (rubric_version IS NOT NULL AND risk_level IS NOT NULL
                            AND vulnerability_level IS NOT NULL AND exploitation_status IS NOT NULL
                            AND urgent IS NOT NULL AND needs_review IS NOT NULL))
);
CREATE INDEX screenings_form ON screenings (form_id, submission_id);
CREATE INDEX screenings_review ON screenings (form_id) WHERE needs_review OR urgent;

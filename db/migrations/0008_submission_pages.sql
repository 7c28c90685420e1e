-- The coordinator's pages (issue 10): the submissions table filters by review state and by
-- submitter while paging newest first by keyset (created_at, id); the submitter filter lists
-- a form's submitters by a loose index scan; the coordinator view walks the latest flagged
-- screenings newest first. Each index serves one of those orders, so a page reads only the
-- rows it shows (bench/pages.py: 100k submissions in a form).

CREATE INDEX submissions_form_review_created
    ON submissions (form_id, (coalesce(review_state, 'received')), created_at, id);
CREATE INDEX submissions_form_submitter_created
    ON submissions (form_id, submitter_id, created_at, id);
CREATE INDEX screenings_flagged_latest
    ON screenings (form_id, submission_id DESC) WHERE needs_review OR urgent;

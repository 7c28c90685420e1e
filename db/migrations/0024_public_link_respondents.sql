-- A once-only public link takes one submission from each respondent, as ODK Central's
-- single-submission links do (one per browser), but enforced here, not by the browser: the
-- first submission of a respondent claims its key in the same transaction that stores it; any
-- other, sent in parallel or later, finds the key taken. A browser's key is derived from its
-- CSRF cookie (every page submission carries it); OpenRosa clients, which have no such
-- cookie, share one key per link.
CREATE TABLE public_link_respondents (
    link_id integer NOT NULL REFERENCES public_links (actor_id) ON DELETE CASCADE,
    respondent text NOT NULL CHECK (length(respondent) BETWEEN 1 AND 128),
    instance_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (link_id, respondent)
);

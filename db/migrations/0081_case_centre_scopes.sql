-- Row scopes (migration 0030) and case ownership (0080) agree on a case's centre: a centre's
-- staff see the cases their centre owns or has been referred.
--
-- entities.centre, which scopes read, is the owning centre (case_owners.centre) of a case, and
-- the `centre` property of any other entity as before; it follows a change of owner and an
-- accepted transfer (db/cases.py), and every submission about the case follows it (0030's
-- trigger on entities.centre).
CREATE OR REPLACE FUNCTION entity_defs_keep_centre() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    centre_now text;
BEGIN
    IF NEW.current THEN
        -- (the owner row is written by entity_defs_case_owner, which fires first: by name)
        centre_now := coalesce((SELECT o.centre FROM case_owners o WHERE o.entity_id = NEW.entity_id),
                               NEW.data ->> 'centre');
        UPDATE entities SET centre = centre_now
        WHERE id = NEW.entity_id AND centre IS DISTINCT FROM centre_now;
    END IF;
    IF NEW.submission_id IS NOT NULL THEN
        UPDATE submissions s SET centre = e.centre FROM entities e
        WHERE e.id = NEW.entity_id AND s.id = NEW.submission_id
          AND s.centre IS DISTINCT FROM e.centre;
    END IF;
    RETURN NULL;
END;
$$;

UPDATE entities e SET centre = o.centre
FROM case_owners o
WHERE o.entity_id = e.id AND o.centre IS NOT NULL AND e.centre IS DISTINCT FROM o.centre;

-- Which referrals open a case to the centre they go to: a referral not declined, a transfer
-- waiting for its answer (an accepted transfer made that centre the owner). One home: the
-- centres of a case (case_centres) and the row scopes (db/scopes.py) both ask it.
CREATE FUNCTION case_referral_opens(kind text, state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT (kind = 'referral' AND state <> 'declined') OR (kind = 'transfer' AND state = 'pending')
$$;

CREATE OR REPLACE FUNCTION case_centres(case_entity bigint) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') FROM (
        SELECT centre AS c FROM case_owners WHERE entity_id = case_entity
        UNION ALL
        SELECT to_centre FROM case_referrals
        WHERE entity_id = case_entity AND case_referral_opens(kind, state)
    ) centres WHERE c IS NOT NULL
$$;

-- Support-centre cases (entities of the list `cases`) get an owner, and can be referred or
-- transferred, as Primero does.
--
-- case_owners: the owning centre and the assigned caseworker (a web user) of each case. The
-- row is written when the case is created, whatever the path (an intake from Collect or the
-- browser, REST, a bulk upload): the centre is the intake's `centre`, the caseworker the web
-- user who sent it (none for a phone). Later changes are made on the case page or REST, and
-- audited (case.assign); an accepted transfer moves the centre.
--
-- case_referrals: a referral (to another centre and/or a service) or a transfer (ownership
-- moves to another centre). The receiving side accepts or declines with a reason. Each is made
-- only with the person's consent to share recorded on the case (the intake's consent_share)
-- or a manager's override with a reason (consent = 'override').

CREATE TABLE case_owners (
    entity_id     bigint PRIMARY KEY REFERENCES entities (id) ON DELETE CASCADE,
    centre        text CONSTRAINT case_owners_centre_code CHECK (centre ~ '^[a-z][a-z0-9_]{0,63}$'),
    caseworker_id integer REFERENCES actors (id),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by    integer REFERENCES actors (id)
);
CREATE INDEX case_owners_centre ON case_owners (centre);
CREATE INDEX case_owners_caseworker ON case_owners (caseworker_id) WHERE caseworker_id IS NOT NULL;

CREATE FUNCTION case_owner_at_intake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_owners (entity_id, centre, caseworker_id)
    SELECT NEW.entity_id,
           CASE WHEN NEW.data->>'centre' ~ '^[a-z][a-z0-9_]{0,63}$' THEN NEW.data->>'centre' END,
           (SELECT a.id FROM actors a WHERE a.id = NEW.creator_id AND a.type = 'user')
    FROM entities e JOIN datasets d ON d.id = e.dataset_id
    WHERE e.id = NEW.entity_id AND d.name = 'cases'
    ON CONFLICT (entity_id) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER entity_defs_case_owner AFTER INSERT ON entity_defs
    FOR EACH ROW WHEN (NEW.root) EXECUTE FUNCTION case_owner_at_intake();

-- the cases that exist already
INSERT INTO case_owners (entity_id, centre, caseworker_id)
SELECT e.id,
       CASE WHEN r.data->>'centre' ~ '^[a-z][a-z0-9_]{0,63}$' THEN r.data->>'centre' END,
       (SELECT a.id FROM actors a WHERE a.id = r.creator_id AND a.type = 'user')
FROM entities e
JOIN datasets d ON d.id = e.dataset_id AND d.name = 'cases'
JOIN entity_defs r ON r.entity_id = e.id AND r.root
ON CONFLICT (entity_id) DO NOTHING;

CREATE TABLE case_referrals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_id       bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    kind            text NOT NULL CONSTRAINT case_referrals_kind CHECK (kind IN ('referral', 'transfer')),
    from_centre     text,
    to_centre       text CONSTRAINT case_referrals_centre_code CHECK (to_centre ~ '^[a-z][a-z0-9_]{0,63}$'),
    service         text CONSTRAINT case_referrals_service_code CHECK (service ~ '^[a-z][a-z0-9_]{0,63}$'),
    consent         text NOT NULL CONSTRAINT case_referrals_consent CHECK (consent IN ('recorded', 'override')),
    override_reason text CONSTRAINT case_referrals_override_length CHECK (length(override_reason) BETWEEN 1 AND 500),
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT case_referrals_state CHECK (state IN ('pending', 'accepted', 'declined')),
    created_by      integer NOT NULL REFERENCES actors (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    responded_by    integer REFERENCES actors (id),
    responded_at    timestamptz,
    response_reason text CONSTRAINT case_referrals_reason_length CHECK (length(response_reason) BETWEEN 1 AND 500),
    -- a referral goes to a centre, a service, or a service at a centre; a transfer to a centre
    CONSTRAINT case_referrals_target CHECK (
        (kind = 'referral' AND (to_centre IS NOT NULL OR service IS NOT NULL))
        OR (kind = 'transfer' AND to_centre IS NOT NULL AND service IS NULL)),
    CONSTRAINT case_referrals_override_reason CHECK ((consent = 'override') = (override_reason IS NOT NULL)),
    CONSTRAINT case_referrals_answered CHECK (
        (state = 'pending') = (responded_at IS NULL) AND (state = 'pending') = (responded_by IS NULL)),
    CONSTRAINT case_referrals_decline_reason CHECK (state <> 'declined' OR response_reason IS NOT NULL)
);
CREATE INDEX case_referrals_entity ON case_referrals (entity_id, created_at);
CREATE INDEX case_referrals_to_centre ON case_referrals (to_centre, state);
-- one transfer waiting for an answer at a time
CREATE UNIQUE INDEX case_referrals_one_pending_transfer ON case_referrals (entity_id)
    WHERE kind = 'transfer' AND state = 'pending';

-- The centres whose staff see a case (api/scopes.py's centre scope): the centre that owns it,
-- the centres it is referred to (unless they declined), and the centre a transfer waits at.
CREATE FUNCTION case_centres(case_entity bigint) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') FROM (
        SELECT centre AS c FROM case_owners WHERE entity_id = case_entity
        UNION ALL
        SELECT to_centre FROM case_referrals
        WHERE entity_id = case_entity
          AND ((kind = 'referral' AND state <> 'declined') OR (kind = 'transfer' AND state = 'pending'))
    ) centres WHERE c IS NOT NULL
$$;

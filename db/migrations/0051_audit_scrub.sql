-- The audit log stays append-only, with one exception for purges and erasures (issue 25): the
-- review notes a `submission.update` line carries (free text about the person) may be removed
-- from its details, and nothing else changed, inside a transaction that says so with
-- SET LOCAL fieldsurvey.scrub_audits = 'on' (db/trash.py). The line itself stays: that the
-- record was reviewed, by whom and when.
CREATE OR REPLACE FUNCTION audits_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('fieldsurvey.scrub_audits', true) = 'on'
       AND (NEW.id, NEW.actor_id, NEW.action, NEW.acted_on, NEW.logged_at)
           IS NOT DISTINCT FROM (OLD.id, OLD.actor_id, OLD.action, OLD.acted_on, OLD.logged_at)
       AND NEW.details IS NOT DISTINCT FROM OLD.details - 'notes' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

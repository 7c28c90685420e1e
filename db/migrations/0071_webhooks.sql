-- Webhooks (issue 26): a project's subscriptions to events, and the log of every delivery.
-- The outbox worker (api/services/events.py) writes a delivery for each event a webhook
-- subscribes to, in the transaction that marks the event handled; the sender posts it after
-- that commit, retries with backoff, and records every attempt here.
CREATE TABLE webhooks (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  integer NOT NULL REFERENCES projects (id),
    url         text NOT NULL CONSTRAINT webhooks_url_length CHECK (length(url) <= 2000),
    events      text[] NOT NULL CONSTRAINT webhooks_events_given CHECK (cardinality(events) > 0),
    forms       text[],  -- xmlFormIds; NULL: every form
    secret      text NOT NULL CONSTRAINT webhooks_secret_length CHECK (length(secret) BETWEEN 16 AND 200),
    created_by  integer NOT NULL REFERENCES actors (id),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at  timestamptz,
    -- a receiver that fails is left alone for a while (doubling), then one delivery probes
    -- it: while it is down, its deliveries wait instead of each failing on its own
    failures     integer NOT NULL DEFAULT 0,
    paused_until timestamptz
);
CREATE INDEX webhooks_project ON webhooks (project_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      integer NOT NULL REFERENCES webhooks (id),
    event_id        bigint NOT NULL,
    event_kind      text NOT NULL,
    subject         text NOT NULL,
    project_id      integer NOT NULL,
    form_id         integer,
    details         jsonb NOT NULL,  -- the event's ids (the event itself is pruned later)
    event_at        timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CONSTRAINT webhook_deliveries_state_check
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    leased_until    timestamptz,  -- being sent (by the worker that leased it) until then
    retry_from      timestamptz NOT NULL DEFAULT clock_timestamp(),  -- the day of retries starts
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, subject, id)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);

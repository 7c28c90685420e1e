"""SQL of webhooks and their delivery log (migration 0071)."""

from __future__ import annotations

import asyncpg

WEBHOOK_COLUMNS = "id, project_id, url, events, forms, created_by, created_at"

INSERT_WEBHOOK = f"""
INSERT INTO webhooks (project_id, url, events, forms, secret, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING {WEBHOOK_COLUMNS}
"""
SELECT_WEBHOOKS = f"""
SELECT {WEBHOOK_COLUMNS} FROM webhooks
WHERE project_id = $1 AND deleted_at IS NULL ORDER BY id
"""
SELECT_WEBHOOK = f"""
SELECT {WEBHOOK_COLUMNS} FROM webhooks
WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL
"""
DELETE_WEBHOOK = """
UPDATE webhooks SET deleted_at = clock_timestamp()
WHERE project_id = $1 AND id = $2 AND deleted_at IS NULL
RETURNING id
"""
# a deleted webhook's pending deliveries are not sent
FAIL_PENDING_OF = """
UPDATE webhook_deliveries SET state = 'failed', last_error = 'the webhook was deleted'
WHERE webhook_id = $1 AND state = 'pending'
"""

# The outbox handler: a delivery for every live webhook of the event's project that
# subscribes to its kind (and its form, when it names forms), made after the webhook was.
INSERT_DELIVERIES = """
INSERT INTO webhook_deliveries (webhook_id, event_id, event_kind, subject, project_id, form_id,
                                details, event_at)
SELECT w.id, e.id, e.kind, e.subject, e.project_id, e.form_id, e.details, e.created_at
FROM events e
JOIN webhooks w ON w.project_id = e.project_id AND w.deleted_at IS NULL
                AND e.kind = any(w.events) AND w.created_at <= e.created_at
LEFT JOIN forms f ON f.id = e.form_id
WHERE e.id = any($1::bigint[]) AND (w.forms IS NULL OR f.xml_form_id = any(w.forms))
ORDER BY e.id, w.id
ON CONFLICT ON CONSTRAINT webhook_deliveries_once DO NOTHING
"""

# Deliveries to send now, leased for `$2` seconds (a sender that dies leaves them to be sent
# again after it, or by the next worker at once: at least once). In order per webhook and record: one waits while an
# earlier delivery of the same record to the same webhook is pending.
CLAIM_DUE = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.state = 'pending' AND d.next_attempt_at <= clock_timestamp()
      AND (d.leased_until IS NULL OR d.leased_until <= clock_timestamp())
      AND (w.paused_until IS NULL OR w.paused_until <= clock_timestamp())
      AND NOT EXISTS (
          SELECT 1 FROM webhook_deliveries p
          WHERE p.state = 'pending' AND p.webhook_id = d.webhook_id AND p.subject = d.subject
            AND p.id < d.id
      )
    ORDER BY d.id LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET leased_until = clock_timestamp() + make_interval(secs => $2)
FROM due, webhooks w
WHERE d.id = due.id AND w.id = d.webhook_id
RETURNING d.id, d.webhook_id, d.event_id, d.event_kind, d.subject, d.project_id, d.form_id,
          d.details, d.event_at, d.attempts, d.retry_from, w.url, w.secret, w.created_by
"""
MARK_DELIVERED = """
UPDATE webhook_deliveries
SET state = 'delivered', attempts = attempts + 1, last_attempt_at = clock_timestamp(),
    leased_until = NULL,
    last_status = $2, last_error = NULL, delivered_at = clock_timestamp()
WHERE id = $1
"""
# A failed attempt: again after `$4` seconds, or given up (`$5`: past the day of retries, or
# a failure no retry can mend).
MARK_ATTEMPT_FAILED = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_attempt_at = clock_timestamp(), last_status = $2,
    last_error = left($3, 1000), leased_until = NULL,
    state = CASE WHEN $5 THEN 'failed' ELSE 'pending' END,
    next_attempt_at = clock_timestamp() + make_interval(secs => $4)
WHERE id = $1
"""
# the receiver failed: left alone for $2 x 2^(failures so far) seconds (at most an hour)
PAUSE_WEBHOOK = """
UPDATE webhooks SET failures = failures + 1,
       paused_until = clock_timestamp() + make_interval(secs => least(3600, $2 * 2 ^ least(failures, 20)))
WHERE id = $1 AND (paused_until IS NULL OR paused_until <= clock_timestamp())  -- once a pause
"""
RESUME_WEBHOOK = "UPDATE webhooks SET failures = 0, paused_until = NULL WHERE id = $1 AND failures > 0"
# a leased delivery not tried (its receiver failed meanwhile): due again when it is resumed
RELEASE = "UPDATE webhook_deliveries SET leased_until = NULL WHERE id = $1"
# a new worker: the leases of one that went away (sends only run in the one worker)
RELEASE_ALL = "UPDATE webhook_deliveries SET leased_until = NULL WHERE leased_until IS NOT NULL"

RESEND = """
UPDATE webhook_deliveries d
SET state = 'pending', next_attempt_at = clock_timestamp(), retry_from = clock_timestamp()
FROM webhooks w
WHERE d.id = $3 AND d.webhook_id = $2 AND w.id = d.webhook_id AND w.project_id = $1
  AND w.deleted_at IS NULL AND d.state <> 'pending'
RETURNING d.id
"""
SELECT_DELIVERIES = """
SELECT id, event_id, event_kind, subject, details, event_at, state, attempts, last_attempt_at,
       last_status, last_error, delivered_at, next_attempt_at
FROM webhook_deliveries WHERE webhook_id = $1
ORDER BY id DESC LIMIT $2 OFFSET $3
"""

# A submission as REST shows it (GET .../submissions/{instanceId}), with the XML of the
# version the event is about (GET ....xml).
SELECT_SUBMISSION_RECORD = """
SELECT s.instance_id, s.submitter_id, s.device_id, s.review_state, s.created_at, s.updated_at,
       f.xml_form_id, v.instance_id AS version_instance_id, v.instance_name, v.deprecated_id,
       v.created_at AS version_created_at, v.xml, v.current
FROM submissions s
JOIN forms f ON f.id = s.form_id
JOIN submission_versions v ON v.submission_id = s.id
WHERE s.id = $1 AND v.id = $2
"""
# An entity at the version the event is about.
SELECT_ENTITY_RECORD = """
SELECT e.uuid, e.created_at, e.updated_at, d.name AS dataset, ed.version, ed.label, ed.data,
       ed.current, ed.created_at AS version_created_at, ed.conflicting_properties
FROM entity_defs ed JOIN entities e ON e.id = ed.entity_id JOIN datasets d ON d.id = e.dataset_id
WHERE ed.id = $1 AND e.deleted_at IS NULL
"""


async def insert_webhook(conn, project_id: int, url: str, events: list[str],
                         forms: list[str] | None, secret: str, created_by: int):
    return await conn.fetchrow(INSERT_WEBHOOK, project_id, url, events, forms, secret, created_by)


async def list_webhooks(conn, project_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_WEBHOOKS, project_id)


async def get_webhook(conn, project_id: int, webhook_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_WEBHOOK, project_id, webhook_id)


async def delete_webhook(conn, project_id: int, webhook_id: int) -> bool:
    async with conn.transaction():
        gone = await conn.fetchval(DELETE_WEBHOOK, project_id, webhook_id)
        if gone is not None:
            await conn.execute(FAIL_PENDING_OF, gone)
    return gone is not None


async def insert_deliveries(conn, event_ids: list[int]) -> None:
    await conn.execute(INSERT_DELIVERIES, event_ids)


async def claim_due(conn, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_DUE, limit, lease_seconds)


async def mark_delivered(conn, delivery_id: int, status: int) -> None:
    await conn.execute(MARK_DELIVERED, delivery_id, status)


async def mark_attempt_failed(conn, delivery_id: int, status: int | None, error: str,
                              retry_in: float, give_up: bool) -> None:
    await conn.execute(MARK_ATTEMPT_FAILED, delivery_id, status, error, retry_in, give_up)


async def pause_webhook(conn, webhook_id: int, first_seconds: float) -> None:
    await conn.execute(PAUSE_WEBHOOK, webhook_id, first_seconds)


async def resume_webhook(conn, webhook_id: int) -> None:
    await conn.execute(RESUME_WEBHOOK, webhook_id)


async def release(conn, delivery_id: int) -> None:
    await conn.execute(RELEASE, delivery_id)


async def release_all(conn) -> None:
    await conn.execute(RELEASE_ALL)


async def resend(conn, project_id: int, webhook_id: int, delivery_id: int) -> bool:
    return await conn.fetchval(RESEND, project_id, webhook_id, delivery_id) is not None


async def list_deliveries(conn, webhook_id: int, limit: int = 100, offset: int = 0):
    return await conn.fetch(SELECT_DELIVERIES, webhook_id, limit, offset)


async def submission_record(conn, submission_id: int, version_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_SUBMISSION_RECORD, submission_id, version_id)


async def entity_record(conn, entity_def_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ENTITY_RECORD, entity_def_id)

"""SQL of the outbox (`events`, migration 0070): events are written in the transaction of the
change they tell of (by triggers on submissions and entities, or by `insert_event`), and
handled after the commit by one worker (api/services/events.py)."""

from __future__ import annotations

import asyncpg

INSERT_EVENT = """
INSERT INTO events (kind, project_id, subject, form_id, actor_id, details)
VALUES ($1, $2, $3, $4, $5, coalesce($6::jsonb, '{}'::jsonb))
RETURNING id
"""

# The next pending events, oldest first, that are due: an event waits while an earlier one of
# the same record waits for its retry (a failing event holds its record's later events back;
# once due, it comes first in the batch, and they after it).
# FOR UPDATE SKIP LOCKED: a second worker (should the advisory lock ever be shared) skips them.
CLAIM_PENDING = """
SELECT e.id, e.kind, e.project_id, e.subject, e.form_id, e.actor_id, e.details, e.created_at,
       e.attempts
FROM events e
WHERE e.handled_at IS NULL
  AND (e.retry_at IS NULL OR e.retry_at <= clock_timestamp())
  AND NOT EXISTS (
      SELECT 1 FROM events p
      WHERE p.handled_at IS NULL AND p.subject = e.subject AND p.id < e.id
        AND p.retry_at > clock_timestamp()
  )
ORDER BY e.id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""

MARK_HANDLED = "UPDATE events SET handled_at = clock_timestamp() WHERE id = any($1::bigint[])"

MARK_FAILED = """
UPDATE events
SET attempts = attempts + 1, last_error = left($2, 2000),
    retry_at = clock_timestamp() + make_interval(secs => least(3600, 2 ^ least(attempts, 12)))
WHERE id = $1
"""

# Handled events older than the retention are dropped (webhook deliveries keep their own
# log): in batches, so that a long backlog does not hold one long transaction.
DELETE_HANDLED_BEFORE = """
DELETE FROM events WHERE id IN (
    SELECT id FROM events
    WHERE handled_at IS NOT NULL AND handled_at < clock_timestamp() - make_interval(days => $1)
    LIMIT 10000
)
"""

COUNT_PENDING = "SELECT count(*) FROM events WHERE handled_at IS NULL"


async def insert_event(
    conn: asyncpg.Connection, kind: str, project_id: int, subject: str, *,
    form_id: int | None = None, actor_id: int | None = None, details: dict | None = None,
) -> int:
    return await conn.fetchval(
        INSERT_EVENT, kind, project_id, subject, form_id, actor_id, details
    )


async def claim_pending(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_PENDING, limit)


async def mark_handled(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute(MARK_HANDLED, ids)


async def mark_failed(conn: asyncpg.Connection, event_id: int, error: str) -> None:
    await conn.execute(MARK_FAILED, event_id, error)


async def delete_handled_before(conn: asyncpg.Connection, days: int) -> int:
    status = await conn.execute(DELETE_HANDLED_BEFORE, days)
    return int(status.split()[-1])


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT_PENDING)

"""SQL of the audit log (append-only: a trigger refuses UPDATE, DELETE and TRUNCATE)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

INSERT_AUDIT = """
INSERT INTO audits (actor_id, action, acted_on, details) VALUES ($1, $2, $3, $4)
"""

# Failed logins of the last `$3` seconds for an account (acted_on: the email given) and for an
# address (details.ip), with the oldest of each (when the window frees one). Uses the
# (action, logged_at) index.
SELECT_LOGIN_FAILURES = """
SELECT count(*) FILTER (WHERE acted_on = $1) AS account,
       min(logged_at) FILTER (WHERE acted_on = $1) AS account_oldest,
       count(*) FILTER (WHERE acted_on = $1 AND details->>'ip' IS NOT DISTINCT FROM $2) AS pair,
       min(logged_at) FILTER (WHERE acted_on = $1 AND details->>'ip' IS NOT DISTINCT FROM $2)
           AS pair_oldest,
       count(*) FILTER (WHERE details->>'ip' = $2) AS address,
       min(logged_at) FILTER (WHERE details->>'ip' = $2) AS address_oldest,
       clock_timestamp() AS now
FROM audits
WHERE action = 'user.session.failed'
  AND logged_at > clock_timestamp() - make_interval(secs => $3)
  AND (acted_on = $1 OR details->>'ip' = $2)
"""

# Whether the account (by its email) logged in from the address lately: its owner's address,
# which guessing from elsewhere does not lock out.
SELECT_KNOWN_ADDRESS = """
SELECT EXISTS (
    SELECT 1 FROM audits a JOIN users u ON a.acted_on = 'user/' || u.actor_id
    WHERE u.email = lower($1) AND a.action = 'user.session.create'
      AND a.details->>'ip' = $2 AND a.logged_at > clock_timestamp() - make_interval(days => $3)
)
"""

SELECT_AUDITS = """
SELECT a.id, a.actor_id, a.action, a.acted_on, a.details, a.logged_at, ac.display_name
FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
WHERE ($1::text IS NULL OR a.action = $1 OR a.action LIKE $1 || '.%')
  AND ($2::timestamptz IS NULL OR a.logged_at >= $2)
  AND ($3::timestamptz IS NULL OR a.logged_at <= $3)
ORDER BY a.logged_at DESC, a.id DESC
LIMIT $4 OFFSET $5
"""


async def log_audit(
    conn: asyncpg.Connection,
    actor_id: int | None,
    action: str,
    acted_on: str | None = None,
    details: dict | None = None,
) -> None:
    await conn.execute(INSERT_AUDIT, actor_id, action, acted_on, details)


async def list_audits(
    conn: asyncpg.Connection,
    *,
    action: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_AUDITS, action, start, end, limit, offset)


AUDIT_COLUMNS = """
a.id, a.actor_id, a.action, a.acted_on, a.details, a.logged_at,
ac.display_name AS actor_name, ac.type AS actor_type, ac.created_at AS actor_created_at
"""

# Central's GET /v1/audits: `action` is an action or a prefix group ("submission" matches
# "submission.update"); `start` is inclusive and `end` exclusive; newest first.
SELECT_AUDIT_ENTRIES = f"""
SELECT {AUDIT_COLUMNS}
FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
WHERE ($1::text IS NULL OR a.action = $1 OR a.action LIKE $1 || '.%')
  AND ($2::timestamptz IS NULL OR a.logged_at >= $2)
  AND ($3::timestamptz IS NULL OR a.logged_at < $3)
ORDER BY a.logged_at DESC, a.id DESC
LIMIT $4 OFFSET $5
"""

SELECT_AUDITS_OF = f"""
SELECT {AUDIT_COLUMNS}
FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
WHERE a.acted_on = $1
ORDER BY a.logged_at DESC, a.id DESC
"""


async def list_audit_entries(
    conn: asyncpg.Connection,
    *,
    action: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_AUDIT_ENTRIES, action, start, end, limit, offset)


async def list_audits_of(conn: asyncpg.Connection, acted_on: str) -> list[asyncpg.Record]:
    """Everything logged against one object (e.g. "submission/{pid}/{form}/{instanceId}")."""
    return await conn.fetch(SELECT_AUDITS_OF, acted_on)


async def known_login_address(
    conn: asyncpg.Connection, email: str, ip: str, days: int
) -> bool:
    return await conn.fetchval(SELECT_KNOWN_ADDRESS, email, ip, days)


async def login_failures(
    conn: asyncpg.Connection, email: str, ip: str | None, window_seconds: float
) -> asyncpg.Record:
    return await conn.fetchrow(SELECT_LOGIN_FAILURES, email, ip, window_seconds)


SELECT_LAST_DETAILS_OF = """
SELECT details FROM audits WHERE acted_on = $1 AND action = $2 ORDER BY id DESC LIMIT 1
"""


async def last_details_of(conn: asyncpg.Connection, acted_on: str, action: str) -> dict | None:
    """The details of the latest `action` logged against one object (None when never)."""
    return await conn.fetchval(SELECT_LAST_DETAILS_OF, acted_on, action)


# The names the audit page shows for the targets of its entries: actors (users, app users) and
# projects, by id.
SELECT_TARGET_NAMES = """
SELECT 'actor' AS kind, id::text AS key, display_name AS name FROM actors WHERE id = ANY($1::int[])
UNION ALL
SELECT 'project', id::text, name FROM projects WHERE id = ANY($2::int[])
"""


async def target_names(conn: asyncpg.Connection, actor_ids: list[int],
                       project_ids: list[int]) -> dict[tuple[str, str], str]:
    rows = await conn.fetch(SELECT_TARGET_NAMES, actor_ids, project_ids)
    return {(row["kind"], row["key"]): row["name"] for row in rows}


# ---------------------------------------------------------------------------------------------
# Who viewed what (issue 24)

# Reads of one record: a submission's (page, XML, versions, files) or a case's.
RECORD_READ_ACTIONS = (
    "submission.read", "submission.version.read", "submission.attachment.read",
    "entity.read", "entity.version.read", "entity.timeline.read", "case.read",
)
# Reads of many records at once: the exports and OData tables of a form.
BULK_READ_ACTIONS = ("submission.export", "odata.read")

# $1 the records' audit names, $2 RECORD_READ_ACTIONS; $3, $4, $5: for each submission of
# the record, its form's audit name, when it was received, its instanceID: an export or OData
# read of that form after it was received, whose date filters cover it, may have held it.
# A case page logs its timeline and its file together: the timeline read is not listed twice.
SELECT_VIEWS = """
SELECT id, actor_id, actor_name, action, acted_on, details, logged_at FROM (
    SELECT a.id, a.actor_id, ac.display_name AS actor_name, a.action, a.acted_on, a.details,
           a.logged_at
    FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
    WHERE a.acted_on = ANY($1::text[]) AND a.action = ANY($2::text[])
      AND NOT (a.action = 'entity.timeline.read' AND EXISTS (
          SELECT 1 FROM audits c
          WHERE c.acted_on = a.acted_on AND c.action = 'case.read'
            AND c.actor_id IS NOT DISTINCT FROM a.actor_id
            AND c.logged_at BETWEEN a.logged_at AND a.logged_at + interval '2 seconds'))
    UNION
    SELECT a.id, a.actor_id, ac.display_name, a.action, a.acted_on, a.details, a.logged_at
    FROM unnest($3::text[], $4::timestamptz[], $5::text[]) AS r(form_ref, received, instance_id)
    JOIN audits a ON a.acted_on = r.form_ref
    LEFT JOIN actors ac ON ac.id = a.actor_id
    WHERE a.action = ANY($6::text[]) AND a.logged_at >= r.received
      AND (a.details->'filters'->>'since' IS NULL
           OR (a.details->'filters'->>'since')::timestamptz <= r.received)
      AND (a.details->'filters'->>'until' IS NULL
           OR r.received < (a.details->'filters'->>'until')::timestamptz)
      AND (a.details->>'instanceId' IS NULL OR a.details->>'instanceId' = r.instance_id)
) AS views
ORDER BY logged_at DESC, id DESC
LIMIT $7
"""


async def list_views(
    conn: asyncpg.Connection, records: list[str], submissions: list[tuple[str, datetime, str]],
    limit: int,
) -> list[asyncpg.Record]:
    """The reads of `records` (audit names) and the bulk reads of the forms that may have held
    `submissions` ((form's audit name, received, instanceID) each), newest first."""
    forms, received, instances = (list(c) for c in zip(*submissions, strict=True)) \
        if submissions else ([], [], [])
    return await conn.fetch(SELECT_VIEWS, records, list(RECORD_READ_ACTIONS), forms, received,
                            instances, list(BULK_READ_ACTIONS), limit)


# Users who read more than $4 records of a project (audit names starting $2 or $3) in one clock
# hour since $1.
SELECT_HEAVY_READERS = """
SELECT a.actor_id, ac.display_name AS actor_name, date_trunc('hour', a.logged_at) AS hour,
       count(DISTINCT a.acted_on) AS records
FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
WHERE a.action = ANY($5::text[]) AND a.logged_at >= $1
  AND (starts_with(a.acted_on, $2) OR starts_with(a.acted_on, $3))
GROUP BY a.actor_id, ac.display_name, date_trunc('hour', a.logged_at)
HAVING count(DISTINCT a.acted_on) > $4
ORDER BY hour DESC, records DESC
LIMIT 500
"""

# Exports of a project's forms (audit names starting $2) since $1 that held sensitive columns
# unmasked.
SELECT_SENSITIVE_EXPORTS = """
SELECT a.id, a.actor_id, ac.display_name AS actor_name, a.acted_on, a.details, a.logged_at
FROM audits a LEFT JOIN actors ac ON ac.id = a.actor_id
WHERE a.action = 'submission.export' AND a.logged_at >= $1 AND starts_with(a.acted_on, $2)
  AND a.details->>'sensitive' = 'shown'
ORDER BY a.logged_at DESC, a.id DESC
LIMIT 500
"""


async def heavy_readers(
    conn: asyncpg.Connection, project_id: int, since: datetime, limit_per_hour: int
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_HEAVY_READERS, since, f"submission/{project_id}/",
                            f"entity/{project_id}/", limit_per_hour, list(RECORD_READ_ACTIONS))


async def sensitive_exports(
    conn: asyncpg.Connection, project_id: int, since: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_SENSITIVE_EXPORTS, since, f"form/{project_id}/")

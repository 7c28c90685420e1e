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

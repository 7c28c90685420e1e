"""SQL of alerts to web users (`alerts`, `users.alert_preferences`; migration 0070)."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

# One row per user who wants this kind of alert by at least one channel (a kind a user never
# chose takes the defaults: in the app, and by email); nothing when the user has it already
# (`once_key`: one alert per event and person, never a repeat).
INSERT_ALERTS = """
WITH wanted AS (
    SELECT u.actor_id, u.email,
           coalesce((u.alert_preferences -> $3 ->> 'app')::boolean, true) AS app,
           coalesce((u.alert_preferences -> $3 ->> 'email')::boolean, true)
               AND coalesce(u.email, '') <> '' AS email_on
    FROM users u JOIN actors a ON a.id = u.actor_id
    WHERE u.actor_id = any($1::integer[]) AND a.deleted_at IS NULL
)
INSERT INTO alerts (user_id, project_id, kind, once_key, link, details, in_app, email_to,
                    email_state)
SELECT actor_id, $2, $3, $4, $5, $6, app,
       CASE WHEN email_on THEN email END, CASE WHEN email_on THEN 'pending' END
FROM wanted WHERE app OR email_on
ON CONFLICT ON CONSTRAINT alerts_once DO NOTHING
RETURNING id, user_id
"""

# The project's managers (active accounts). Narrowed by scope where scopes exist.
SELECT_PROJECT_MANAGERS = """
SELECT DISTINCT a.actor_id
FROM assignments a JOIN actors ac ON ac.id = a.actor_id JOIN users u ON u.actor_id = a.actor_id
WHERE a.project_id = $1 AND a.role = 'manager' AND ac.deleted_at IS NULL
ORDER BY a.actor_id
"""

# Screenings of these submissions that are urgent or at high risk, with what an alert names.
SELECT_ALARMING_SCREENINGS = """
SELECT s.submission_id, s.risk_level, s.urgent, s.region, f.project_id, f.xml_form_id,
       sub.instance_id, fd.title AS form_title
FROM screenings s
JOIN submissions sub ON sub.id = s.submission_id
JOIN forms f ON f.id = s.form_id
LEFT JOIN form_defs fd ON fd.id = f.current_def_id
WHERE s.submission_id = any($1::bigint[]) AND (s.urgent OR s.risk_level = 'high')
  AND NOT coalesce(s.consent_refused, false)
"""

# Reviews to tell the submitter of (a web user) with the reviewer's note, from the audit row
# the review wrote in its transaction.
SELECT_REVIEWED = """
SELECT sub.id AS submission_id, sub.instance_id, sub.submitter_id, f.project_id, f.xml_form_id,
       (SELECT a.details ->> 'notes' FROM audits a
        WHERE a.acted_on = 'submission/' || f.project_id || '/' || f.xml_form_id || '/'
                           || sub.instance_id
          AND a.action = 'submission.update' AND a.logged_at >= $2
        ORDER BY a.id DESC LIMIT 1) AS notes,
       fd.title AS form_title
FROM submissions sub
JOIN forms f ON f.id = sub.form_id
LEFT JOIN form_defs fd ON fd.id = f.current_def_id
JOIN users u ON u.actor_id = sub.submitter_id
WHERE sub.id = $1
"""

# Open cases (the `cases` entity list) whose next contact date is before `$1` (the clock's
# day): no follow-up moved it since.
SELECT_OVERDUE_CASES = """
SELECT d.project_id, e.uuid, (ed.data ->> 'next_contact') AS due, ed.data ->> 'region' AS region,
       ed.label, e.centre
FROM entities e
JOIN datasets d ON d.id = e.dataset_id
JOIN entity_defs ed ON ed.entity_id = e.id AND ed.current
WHERE d.name = 'cases' AND e.deleted_at IS NULL
  AND coalesce(ed.data ->> 'status', 'open') <> 'closed'
  AND (ed.data ->> 'next_contact') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
  AND (ed.data ->> 'next_contact')::date < $1
ORDER BY e.id
"""

SELECT_USER_ALERTS = """
SELECT id, project_id, kind, link, details, created_at, read_at
FROM alerts WHERE user_id = $1 AND in_app
ORDER BY id DESC LIMIT $2 OFFSET $3
"""
COUNT_UNREAD = "SELECT count(*) FROM alerts WHERE user_id = $1 AND in_app AND read_at IS NULL"
MARK_READ = """
UPDATE alerts SET read_at = clock_timestamp()
WHERE user_id = $1 AND read_at IS NULL AND ($2::bigint IS NULL OR id = $2)
"""

# Emails to send now: pending and due, leased for five minutes (a sender that dies while
# sending leaves them to be sent again then: at least once), with the recipient's language.
CLAIM_DUE_EMAILS = """
WITH due AS (
    SELECT id FROM alerts
    WHERE email_state = 'pending'
      AND (email_retry_at IS NULL OR email_retry_at <= clock_timestamp())
    ORDER BY id LIMIT $1
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE alerts al SET email_retry_at = clock_timestamp() + interval '5 minutes'
    FROM due WHERE al.id = due.id
    RETURNING al.id, al.user_id, al.email_to, al.kind, al.link, al.details, al.project_id,
              al.created_at
)
SELECT l.*, u.locale FROM leased l JOIN users u ON u.actor_id = l.user_id ORDER BY l.id
"""
MARK_EMAILED = """
UPDATE alerts SET email_state = 'sent', emailed_at = clock_timestamp(),
       email_attempts = email_attempts + 1, email_error = NULL, email_retry_at = NULL
WHERE id = $1
"""
# a failure: tried again after 1, 2, 4 ... minutes (at most an hour); given up after a day
MARK_EMAIL_FAILED = """
UPDATE alerts SET email_attempts = email_attempts + 1, email_error = left($2, 1000),
       email_state = CASE WHEN created_at < clock_timestamp() - interval '1 day'
                          THEN 'failed' ELSE 'pending' END,
       email_retry_at = clock_timestamp()
           + make_interval(secs => least(3600, 60 * 2 ^ least(email_attempts, 10)))
WHERE id = $1
"""

SELECT_PREFERENCES = "SELECT alert_preferences, email FROM users WHERE actor_id = $1"
UPDATE_PREFERENCES = "UPDATE users SET alert_preferences = $2 WHERE actor_id = $1"


async def insert_alerts(
    conn: asyncpg.Connection, user_ids: list[int], *, project_id: int, kind: str,
    once_key: str, link: str, details: dict,
) -> list[asyncpg.Record]:
    return await conn.fetch(INSERT_ALERTS, user_ids, project_id, kind, once_key, link, details)


async def project_managers(conn: asyncpg.Connection, project_id: int) -> list[int]:
    return [r["actor_id"] for r in await conn.fetch(SELECT_PROJECT_MANAGERS, project_id)]


async def alarming_screenings(conn: asyncpg.Connection, submission_ids: list[int]):
    return await conn.fetch(SELECT_ALARMING_SCREENINGS, submission_ids)


async def reviewed_submission(conn: asyncpg.Connection, submission_id: int, since: datetime):
    """`since`: the review's event time (its audit row is written after it, in its
    transaction): the audit is looked for from then on, by the (action, logged_at) index."""
    return await conn.fetchrow(SELECT_REVIEWED, submission_id, since)


async def overdue_cases(conn: asyncpg.Connection, today: date) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_OVERDUE_CASES, today)


async def user_alerts(conn: asyncpg.Connection, user_id: int, limit: int = 50, offset: int = 0):
    return await conn.fetch(SELECT_USER_ALERTS, user_id, limit, offset)


async def count_unread(conn: asyncpg.Connection, user_id: int) -> int:
    return await conn.fetchval(COUNT_UNREAD, user_id)


async def mark_read(conn: asyncpg.Connection, user_id: int, alert_id: int | None) -> int:
    status = await conn.execute(MARK_READ, user_id, alert_id)
    return int(status.split()[-1])


async def claim_due_emails(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(CLAIM_DUE_EMAILS, limit)


async def mark_emailed(conn: asyncpg.Connection, alert_id: int) -> None:
    await conn.execute(MARK_EMAILED, alert_id)


async def mark_email_failed(conn: asyncpg.Connection, alert_id: int, error: str) -> None:
    await conn.execute(MARK_EMAIL_FAILED, alert_id, error)


async def get_preferences(conn: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PREFERENCES, user_id)


async def set_preferences(conn: asyncpg.Connection, user_id: int, preferences: dict) -> None:
    await conn.execute(UPDATE_PREFERENCES, user_id, preferences)

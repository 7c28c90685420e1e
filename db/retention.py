"""SQL of retention periods (table form_retention, migration 0052): the setting of a form, the
submissions a run erases at a given moment, and the rewrite of a version whose sensitive
fields are erased."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

SELECT_RETENTION = "SELECT form_id, months, scope, updated_at FROM form_retention WHERE form_id = $1"
UPSERT_RETENTION = """
INSERT INTO form_retention (form_id, months, scope, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (form_id) DO UPDATE SET months = EXCLUDED.months, scope = EXCLUDED.scope,
    updated_by = EXCLUDED.updated_by, updated_at = clock_timestamp()
"""
DELETE_RETENTION = "DELETE FROM form_retention WHERE form_id = $1"
SELECT_RETAINED_FORMS = "SELECT form_id, months, scope FROM form_retention ORDER BY form_id"

# The live submissions of form $1 due at $2: older than the period, counted from when they
# were received, or, for one that wrote an entity (a case), from when the case closed (its
# versions have status `closed` from then on; an open case is never due). A submission whose
# sensitive fields are erased already is not due again for that.
SELECT_DUE = """
SELECT s.id, f.project_id, f.xml_form_id, s.instance_id, s.created_at, r.scope,
       c.entity_id, c.closed_at
FROM submissions_all s
JOIN forms f ON f.id = s.form_id
JOIN form_retention r ON r.form_id = s.form_id
LEFT JOIN LATERAL (
    SELECT d.entity_id,
           (SELECT min(d2.created_at) FROM entity_defs d2
            WHERE d2.entity_id = d.entity_id AND d2.data ->> 'status' = 'closed'
              AND NOT EXISTS (SELECT 1 FROM entity_defs d3
                              WHERE d3.entity_id = d2.entity_id AND d3.version > d2.version
                                AND d3.data ->> 'status' IS DISTINCT FROM 'closed'))
               AS closed_at
    FROM entity_defs d WHERE d.submission_id = s.id
    ORDER BY d.id LIMIT 1
) c ON true
WHERE s.form_id = $1 AND s.deleted_at IS NULL
  AND (r.scope = 'whole' OR s.fields_erased_at IS NULL)
  AND CASE WHEN c.entity_id IS NULL THEN s.created_at ELSE c.closed_at END
      + make_interval(months => r.months) <= $2
ORDER BY s.created_at, s.id
"""

SELECT_VERSIONS_FOR_ERASURE = """
SELECT v.id, v.form_def_id, v.xml, v.answers FROM submission_versions v
WHERE v.submission_id = $1 ORDER BY v.id
FOR UPDATE
"""
UPDATE_VERSION_ERASED = """
WITH dropped AS (
    DELETE FROM submission_attachments
    WHERE version_id = $1 AND name = ANY($5::text[])
    RETURNING blob_key
), counted AS (
    UPDATE submission_versions
    SET xml = $2, xml_md5 = $3, answers = $4,
        attachments_expected = attachments_expected - (SELECT count(*) FROM dropped),
        attachments_present = attachments_present
            - (SELECT count(*) FROM dropped WHERE blob_key IS NOT NULL)
    WHERE id = $1
)
SELECT ARRAY(SELECT blob_key FROM dropped WHERE blob_key IS NOT NULL)
"""
MARK_FIELDS_ERASED = """
UPDATE submissions_all SET fields_erased_at = clock_timestamp() WHERE id = $1
"""


async def get_retention(conn: asyncpg.Connection, form_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_RETENTION, form_id)


async def set_retention(
    conn: asyncpg.Connection, form_id: int, months: int | None, scope: str, actor_id: int
) -> None:
    """months None: off."""
    if months is None:
        await conn.execute(DELETE_RETENTION, form_id)
    else:
        await conn.execute(UPSERT_RETENTION, form_id, months, scope, actor_id)


async def retained_forms(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_RETAINED_FORMS)


async def due_submissions(
    conn: asyncpg.Connection, form_id: int, now: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_DUE, form_id, now)


async def versions_for_erasure(
    conn: asyncpg.Connection, submission_id: int
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_VERSIONS_FOR_ERASURE, submission_id)


async def rewrite_version(
    conn: asyncpg.Connection, version_id: int, xml: bytes, xml_md5: bytes, answers: dict,
    dropped_files: Sequence[str],
) -> list[str]:
    """Store the version with its fields erased; its files among `dropped_files` go. Returns
    the blob keys of the files removed."""
    return list(await conn.fetchval(UPDATE_VERSION_ERASED, version_id, xml, xml_md5, answers,
                                    list(dropped_files)))


async def mark_fields_erased(conn: asyncpg.Connection, submission_id: int) -> None:
    await conn.execute(MARK_FIELDS_ERASED, submission_id)

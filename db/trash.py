"""SQL of the trash: deleting and restoring submissions (the table `submissions_all` under the
view `submissions` of the live ones, migration 0050) and purging submissions and entities for
good. The only module that names `submissions_all` besides the insert of a new submission.

A purge is one statement per kind of record: every row that belongs to the records (versions,
files' rows, screenings, comments, held offline updates, entity versions) goes with them, and
the entity versions a purged submission wrote lose their link to it (the entity stays, as in
Central). The blob keys of the removed files are returned: the caller deletes those nothing
else references after the commit (db/blobs.py `delete_unreferenced`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from db.scopes import RowScope, entity_scope_sql, submission_scope_sql
from db.submissions import SUBMISSION_API_COLUMNS

# {scope}: the actor's rows (db/scopes.py), so that a record out of scope is not found
MARK_SUBMISSION_DELETED = """
UPDATE submissions_all s SET deleted_at = clock_timestamp()
WHERE s.form_id = $1 AND s.instance_id = $2 AND s.deleted_at IS NULL AND {scope}
RETURNING s.id
"""
MARK_SUBMISSION_RESTORED = """
UPDATE submissions_all s SET deleted_at = NULL
WHERE s.form_id = $1 AND s.instance_id = $2 AND s.deleted_at IS NOT NULL AND {scope}
RETURNING s.id
"""
SELECT_DELETED_ID = """
SELECT id FROM submissions_all WHERE form_id = $1 AND instance_id = $2 AND deleted_at IS NOT NULL
"""
# Central's ?deleted=true: the deleted submissions of a form, most recently deleted first.
SELECT_DELETED_SUBMISSIONS = f"""
SELECT {SUBMISSION_API_COLUMNS}, s.deleted_at
FROM submissions_all s
JOIN submission_versions v ON v.id = s.current_version_id
LEFT JOIN actors a ON a.id = s.submitter_id
WHERE s.form_id = $1 AND s.deleted_at IS NOT NULL AND {{scope}}
ORDER BY s.deleted_at DESC, s.id DESC
"""
# What a purge takes: deleted before the cutoff, with what its audit line names it by.
SELECT_EXPIRED_SUBMISSIONS = """
SELECT s.id, f.project_id, f.xml_form_id, s.instance_id
FROM submissions_all s JOIN forms f ON f.id = s.form_id
WHERE s.deleted_at < $1
ORDER BY s.deleted_at, s.id
LIMIT $2
FOR UPDATE OF s
"""
SELECT_EXPIRED_ENTITIES = """
SELECT e.id, d.project_id, d.name AS dataset, e.uuid::text AS uuid
FROM entities e JOIN datasets d ON d.id = e.dataset_id
WHERE e.deleted_at < $1
ORDER BY e.deleted_at, e.id
LIMIT $2
FOR UPDATE OF e
"""

# Everything of the submissions $1, in one statement (foreign keys are checked at its end).
PURGE_SUBMISSIONS = """
WITH subs AS (
    SELECT id FROM submissions_all WHERE id = ANY($1::bigint[])
), vers AS (
    SELECT v.id FROM submission_versions v WHERE v.submission_id IN (SELECT id FROM subs)
), unlinked AS (
    UPDATE entity_defs SET submission_id = NULL, submission_version_id = NULL
    WHERE submission_id IN (SELECT id FROM subs) OR submission_version_id IN (SELECT id FROM vers)
), held AS (
    DELETE FROM entity_submission_backlog WHERE submission_version_id IN (SELECT id FROM vers)
), screened AS (
    DELETE FROM screenings WHERE submission_id IN (SELECT id FROM subs)
), comments AS (
    DELETE FROM submission_comments WHERE submission_id IN (SELECT id FROM subs)
), files AS (
    DELETE FROM submission_attachments WHERE version_id IN (SELECT id FROM vers)
    RETURNING blob_key
), versions AS (
    DELETE FROM submission_versions WHERE id IN (SELECT id FROM vers)
), gone AS (
    DELETE FROM submissions_all WHERE id IN (SELECT id FROM subs) RETURNING id
)
SELECT (SELECT count(*) FROM gone) AS purged,
       ARRAY(SELECT DISTINCT blob_key FROM files WHERE blob_key IS NOT NULL) AS blob_keys
"""
PURGE_ENTITIES = """
WITH ents AS (
    SELECT id FROM entities WHERE id = ANY($1::bigint[])
), defs AS (
    DELETE FROM entity_defs WHERE entity_id IN (SELECT id FROM ents)
), gone AS (
    DELETE FROM entities WHERE id IN (SELECT id FROM ents) RETURNING id
)
SELECT count(*) FROM gone
"""


def _scoped(sql: str, args: list, scope: RowScope) -> str:
    return sql.replace("{scope}", submission_scope_sql(scope, args) or "true")


async def mark_submission_deleted(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> int | None:
    """The submission's id when it was live (in `scope`) and is now deleted; None when no
    live one."""
    args: list = [form_id, instance_id]
    return await conn.fetchval(_scoped(MARK_SUBMISSION_DELETED, args, scope), *args)


async def mark_submission_restored(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> int | None:
    args: list = [form_id, instance_id]
    return await conn.fetchval(_scoped(MARK_SUBMISSION_RESTORED, args, scope), *args)


async def deleted_submission_id(
    conn: asyncpg.Connection, form_id: int, instance_id: str
) -> int | None:
    return await conn.fetchval(SELECT_DELETED_ID, form_id, instance_id)


async def list_deleted_submissions(
    conn: asyncpg.Connection, form_id: int, *, scope: RowScope
) -> list[asyncpg.Record]:
    args: list = [form_id]
    return await conn.fetch(_scoped(SELECT_DELETED_SUBMISSIONS, args, scope), *args)


async def expired_submissions(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> list[asyncpg.Record]:
    """Submissions deleted before `cutoff`, oldest first, locked (in the caller's transaction)."""
    return await conn.fetch(SELECT_EXPIRED_SUBMISSIONS, cutoff, limit)


async def expired_entities(
    conn: asyncpg.Connection, cutoff: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_EXPIRED_ENTITIES, cutoff, limit)


async def purge_submissions(
    conn: asyncpg.Connection, submission_ids: Sequence[int]
) -> tuple[int, list[str]]:
    """Remove the submissions for good: (how many, blob keys of their files)."""
    row = await conn.fetchrow(PURGE_SUBMISSIONS, list(submission_ids))
    return row["purged"], list(row["blob_keys"])


async def purge_entities(conn: asyncpg.Connection, entity_ids: Sequence[int]) -> int:
    return await conn.fetchval(PURGE_ENTITIES, list(entity_ids))


# The live entities a submission created (its root version), deleted with it when asked.
MARK_CREATED_ENTITIES_DELETED = """
UPDATE entities e SET deleted_at = clock_timestamp()
FROM entity_defs v, datasets d
WHERE v.entity_id = e.id AND v.root AND v.submission_id = $1 AND e.deleted_at IS NULL
  AND d.id = e.dataset_id
RETURNING e.id, d.name AS dataset, e.uuid::text AS uuid
"""


async def mark_created_entities_deleted(
    conn: asyncpg.Connection, submission_id: int
) -> list[asyncpg.Record]:
    return await conn.fetch(MARK_CREATED_ENTITIES_DELETED, submission_id)


PURGE_LOCK = 0x7472617368  # "trash": one purge at a time, whichever server runs it


async def try_purge_lock(conn: asyncpg.Connection) -> bool:
    """Inside a transaction: take the purge lock unless another purge holds it."""
    return await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PURGE_LOCK)


async def database_now(conn: asyncpg.Connection) -> datetime:
    return await conn.fetchval("SELECT clock_timestamp()")


# Review notes (free text) of the audit lines of records removed for good: the only change the
# audit log allows (migration 0051), the lines themselves stay.
SCRUB_AUDIT_NOTES = """
UPDATE audits SET details = details - 'notes'
WHERE acted_on = ANY($1::text[]) AND details ? 'notes'
"""


async def scrub_audit_notes(conn: asyncpg.Connection, acted_on: Sequence[str]) -> None:
    """Inside the caller's transaction."""
    if acted_on:
        await conn.execute("SET LOCAL fieldsurvey.scrub_audits = 'on'")
        await conn.execute(SCRUB_AUDIT_NOTES, list(acted_on))
        await conn.execute("SET LOCAL fieldsurvey.scrub_audits = 'off'")


# Erasing a person: an entity (live or deleted) with its current label (the case code), and
# every submission that created or updated it or is held to update it (live or deleted).
SELECT_ENTITY_FOR_ERASURE = """
SELECT e.id, d.project_id, d.name AS dataset, e.uuid::text AS uuid, v.label
FROM entities e JOIN datasets d ON d.id = e.dataset_id
JOIN entity_defs v ON v.entity_id = e.id AND v.current
WHERE d.project_id = $1 AND d.name = $2 AND e.uuid = $3::uuid AND {scope}
FOR UPDATE OF e
"""
SELECT_ENTITY_SUBMISSIONS = """
SELECT s.id, f.project_id, f.xml_form_id, s.instance_id, s.deleted_at
FROM submissions_all s JOIN forms f ON f.id = s.form_id
WHERE s.id IN (SELECT v.submission_id FROM entity_defs v WHERE v.entity_id = $1
               UNION
               SELECT sv.submission_id FROM entity_submission_backlog b
               JOIN submission_versions sv ON sv.id = b.submission_version_id
               WHERE b.entity_uuid = $2::uuid)
ORDER BY s.id
FOR UPDATE OF s
"""
SELECT_SUBMISSION_FOR_ERASURE = """
SELECT s.id, f.project_id, f.xml_form_id, s.instance_id, s.deleted_at
FROM submissions_all s JOIN forms f ON f.id = s.form_id
WHERE s.form_id = $1 AND s.instance_id = $2 AND {scope}
FOR UPDATE OF s
"""
MARK_IDS_DELETED = """
UPDATE submissions_all SET deleted_at = clock_timestamp()
WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL
"""


async def entity_for_erasure(
    conn: asyncpg.Connection, project_id: int, dataset: str, uuid: str, *, scope: RowScope
) -> asyncpg.Record | None:
    """The entity, when in `scope` (db/scopes.py)."""
    args: list = [project_id, dataset, uuid]
    sql = SELECT_ENTITY_FOR_ERASURE.replace("{scope}", entity_scope_sql(scope, args) or "true")
    return await conn.fetchrow(sql, *args)


async def entity_submissions(
    conn: asyncpg.Connection, entity_id: int, uuid: str
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ENTITY_SUBMISSIONS, entity_id, uuid)


async def submission_for_erasure(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> asyncpg.Record | None:
    """The submission, when in `scope` (db/scopes.py)."""
    args: list = [form_id, instance_id]
    return await conn.fetchrow(_scoped(SELECT_SUBMISSION_FOR_ERASURE, args, scope), *args)


async def mark_ids_deleted(conn: asyncpg.Connection, submission_ids: Sequence[int]) -> None:
    """Live ones leave the live counts first (the trigger of migration 0050)."""
    await conn.execute(MARK_IDS_DELETED, list(submission_ids))


SELECT_ENTITY_BY_ID_FOR_ERASURE = """
SELECT e.id, d.project_id, d.name AS dataset, e.uuid::text AS uuid
FROM entities e JOIN datasets d ON d.id = e.dataset_id
WHERE e.id = $1
FOR UPDATE OF e
"""


async def entity_by_id_for_erasure(
    conn: asyncpg.Connection, entity_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ENTITY_BY_ID_FOR_ERASURE, entity_id)


# The outbox's rows about records removed for good (migration 0070): their events, handled or
# not, and the alerts that link to them (by the record's uuid or instanceID in the link).
FORGET_EVENTS = "DELETE FROM events WHERE subject = ANY($1::text[])"
FORGET_ALERTS = """
DELETE FROM alerts a
WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) k WHERE strpos(a.link, k) > 0)
"""


async def forget_outbox(
    conn: asyncpg.Connection, subjects: Sequence[str], link_keys: Sequence[str]
) -> None:
    """Inside the caller's transaction. `link_keys` must be unique strings (uuids)."""
    await conn.execute(FORGET_EVENTS, list(subjects))
    keys = [k for k in link_keys if len(k) >= 32]
    if keys:
        await conn.execute(FORGET_ALERTS, keys)

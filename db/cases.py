"""SQL of support-centre case ownership (case_owners) and referrals and transfers
(case_referrals). A case is an entity of the list `cases`; its owner row is written by the
database when the case is created (migration 0080's trigger)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.scopes import RowScope, entity_scope_sql

SELECT_OWNER = """
SELECT o.entity_id, o.centre, o.caseworker_id, a.display_name AS caseworker_name,
       o.updated_at, o.updated_by
FROM case_owners o LEFT JOIN actors a ON a.id = o.caseworker_id
WHERE o.entity_id = $1
"""
# Lock the case's owner row: one change of ownership, referral or answer at a time per case.
LOCK_OWNER = """
INSERT INTO case_owners (entity_id) VALUES ($1)
ON CONFLICT (entity_id) DO UPDATE SET entity_id = EXCLUDED.entity_id
RETURNING entity_id
"""
# The owner, and the case's centre that row scopes read (entities.centre, migration 0081).
UPDATE_OWNER = """
WITH o AS (
    UPDATE case_owners SET centre = $2, caseworker_id = $3, updated_by = $4,
           updated_at = clock_timestamp()
    WHERE entity_id = $1
    RETURNING entity_id
)
UPDATE entities e SET centre = $2
FROM o WHERE e.id = o.entity_id AND $2::text IS NOT NULL AND e.centre IS DISTINCT FROM $2
"""
REFERRAL_COLUMNS = """
r.id, r.entity_id, r.kind, r.from_centre, r.to_centre, r.service, r.consent, r.override_reason,
r.state, r.created_by, r.created_at, r.responded_by, r.responded_at, r.response_reason,
cb.display_name AS created_by_name, rb.display_name AS responded_by_name
"""
INSERT_REFERRAL = f"""
WITH r AS (
    INSERT INTO case_referrals (entity_id, kind, from_centre, to_centre, service, consent,
                                override_reason, created_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING *
)
SELECT {REFERRAL_COLUMNS} FROM r
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
"""
SELECT_REFERRALS = f"""
SELECT {REFERRAL_COLUMNS} FROM case_referrals r
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
WHERE r.entity_id = $1 ORDER BY r.created_at, r.id
"""
SELECT_REFERRAL_WITH_CASE = f"""
SELECT {REFERRAL_COLUMNS}, e.uuid::text AS case_uuid, cur.label AS case_label
FROM case_referrals r
JOIN entities e ON e.id = r.entity_id AND e.deleted_at IS NULL
JOIN entity_defs cur ON cur.entity_id = e.id AND cur.current
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
WHERE r.id = $1
"""
SELECT_REFERRAL = f"""
SELECT {REFERRAL_COLUMNS} FROM case_referrals r
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
WHERE r.entity_id = $1 AND r.id = $2
"""
ANSWER_REFERRAL = f"""
WITH r AS (
    UPDATE case_referrals SET state = $3, responded_by = $4, responded_at = clock_timestamp(),
           response_reason = $5
    WHERE entity_id = $1 AND id = $2 AND state = 'pending'
    RETURNING *
)
SELECT {REFERRAL_COLUMNS} FROM r
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
"""
# Referrals and transfers of a project's cases, newest first: those to the given centres (all
# when NULL), in the given state (any when NULL).
SELECT_PROJECT_REFERRALS = f"""
SELECT {REFERRAL_COLUMNS}, e.uuid::text AS case_uuid, cur.label AS case_label
FROM case_referrals r
JOIN entities e ON e.id = r.entity_id AND e.deleted_at IS NULL
JOIN datasets d ON d.id = e.dataset_id AND d.project_id = $1 AND d.name = $2
JOIN entity_defs cur ON cur.entity_id = e.id AND cur.current
JOIN actors cb ON cb.id = r.created_by LEFT JOIN actors rb ON rb.id = r.responded_by
WHERE ($3::text[] IS NULL OR r.to_centre = ANY ($3))
  AND ($4::text IS NULL OR r.state = $4) AND {{scope}}
ORDER BY r.created_at DESC, r.id DESC
LIMIT $5
"""
SELECT_CASE_CENTRES = "SELECT case_centres($1)"
# A referral's case (its current label) and who made the referral.
SELECT_CASE_OF_REFERRAL = """
SELECT r.entity_id, r.created_by, cur.label FROM case_referrals r
JOIN entity_defs cur ON cur.entity_id = r.entity_id AND cur.current
WHERE r.id = $1
"""
# Web users who may be a project's caseworkers: those with one of the given roles in it.
SELECT_STAFF = """
SELECT DISTINCT a.id, a.display_name, u.email
FROM assignments s JOIN actors a ON a.id = s.actor_id AND a.type = 'user' AND a.deleted_at IS NULL
JOIN users u ON u.actor_id = a.id
WHERE s.project_id = $1 AND s.role = ANY ($2)
ORDER BY a.display_name, a.id
"""


async def get_owner(conn: asyncpg.Connection, entity_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_OWNER, entity_id)


async def lock_owner(conn: asyncpg.Connection, entity_id: int) -> None:
    """Lock (creating it empty when missing) the case's owner row until the transaction ends."""
    await conn.execute(LOCK_OWNER, entity_id)


async def set_owner(conn: asyncpg.Connection, entity_id: int, centre: str | None,
                    caseworker_id: int | None, by: int) -> None:
    await conn.execute(UPDATE_OWNER, entity_id, centre, caseworker_id, by)


async def insert_referral(
    conn: asyncpg.Connection, *, entity_id: int, kind: str, from_centre: str | None,
    to_centre: str | None, service: str | None, consent: str, override_reason: str | None,
    created_by: int,
) -> asyncpg.Record:
    """Raises asyncpg.UniqueViolationError (case_referrals_one_pending_transfer) when a
    transfer of the case waits for an answer."""
    return await conn.fetchrow(INSERT_REFERRAL, entity_id, kind, from_centre, to_centre, service,
                               consent, override_reason, created_by)


async def list_referrals(conn: asyncpg.Connection, entity_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_REFERRALS, entity_id)


async def get_referral(conn: asyncpg.Connection, entity_id: int,
                       referral_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_REFERRAL, entity_id, referral_id)


async def referral_with_case(conn: asyncpg.Connection,
                             referral_id: int) -> asyncpg.Record | None:
    """A referral and its (live) case's uuid and label."""
    return await conn.fetchrow(SELECT_REFERRAL_WITH_CASE, referral_id)


async def answer_referral(conn: asyncpg.Connection, entity_id: int, referral_id: int, state: str,
                          by: int, reason: str | None) -> asyncpg.Record | None:
    """The answered referral; None when it was not waiting for an answer."""
    return await conn.fetchrow(ANSWER_REFERRAL, entity_id, referral_id, state, by, reason)


async def project_referrals(
    conn: asyncpg.Connection, project_id: int, dataset: str, centres: Sequence[str] | None,
    state: str | None, limit: int, *, scope: RowScope,
) -> list[asyncpg.Record]:
    """Of the cases in `scope` (db/scopes.py) only."""
    args: list = [project_id, dataset, list(centres) if centres is not None else None, state,
                  limit]
    sql = SELECT_PROJECT_REFERRALS.replace("{scope}", entity_scope_sql(scope, args) or "true")
    return await conn.fetch(sql, *args)


async def case_of_referral(conn: asyncpg.Connection, referral_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CASE_OF_REFERRAL, referral_id)


async def case_centres(conn: asyncpg.Connection, entity_id: int) -> list[str]:
    return list(await conn.fetchval(SELECT_CASE_CENTRES, entity_id))


async def project_staff(conn: asyncpg.Connection, project_id: int,
                        roles: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_STAFF, project_id, list(roles))

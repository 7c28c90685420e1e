"""Row scopes (db/migrations/0030): what part of a project a scoped user may read, as the one
WHERE fragment every read of submissions and entities adds, and the SQL of the scopes table.

A scope lists regions, centres and submitters; what any of them allows is visible (a union):
- a submission about a case (it carries the case's `centre`) by its centre;
- any other submission that carries a `region`, by its region;
- any submission by its submitter;
- an entity (a case) by its `centre`, or by the submitter who created it.
An empty scope is no limit (the whole project). A scope whose values match nothing shows
nothing: a scope never widens what a role allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class RowScope:
    regions: tuple[str, ...] = ()
    centres: tuple[str, ...] = ()
    submitter_ids: tuple[int, ...] = ()

    @property
    def limited(self) -> bool:
        return bool(self.regions or self.centres or self.submitter_ids)

    def allows_centre(self, centre: str | None) -> bool:
        """Whether a case of `centre` is in scope by its centre (always, when not limited)."""
        return not self.limited or (centre is not None and centre in self.centres)


UNSCOPED = RowScope()


def _param(args: list[Any], value: Any) -> str:
    args.append(value)
    return f"${len(args)}"


def submission_scope_sql(scope: RowScope, args: list[Any], alias: str = "s") -> str | None:
    """The condition on submissions `alias` that keeps `scope`'s rows, its values appended to
    `args` as $n parameters; None when the scope is no limit. Fixed SQL text, never a value."""
    if not scope.limited:
        return None
    parts = []
    if scope.centres:
        parts.append(f"{alias}.centre = ANY({_param(args, list(scope.centres))}::text[])")
    if scope.regions:
        parts.append(f"({alias}.centre IS NULL AND "
                     f"{alias}.region = ANY({_param(args, list(scope.regions))}::text[]))")
    if scope.submitter_ids:
        parts.append(
            f"{alias}.submitter_id = ANY({_param(args, list(scope.submitter_ids))}::integer[])")
    return "(" + " OR ".join(parts) + ")"


def entity_scope_sql(scope: RowScope, args: list[Any], alias: str = "e") -> str | None:
    """The condition on entities `alias` for `scope` (see submission_scope_sql): a case by its
    centre (the one that owns it) or a centre it is referred to, or by the submitter who
    created it. Regions do not open cases."""
    if not scope.limited:
        return None
    parts = []
    if scope.centres:
        centres = _param(args, list(scope.centres))
        # a case its centre owns, or one referred to it (migration 0081)
        parts.append(
            f"({alias}.centre = ANY({centres}::text[]) OR EXISTS (SELECT 1 FROM case_referrals r "
            f"WHERE r.entity_id = {alias}.id AND r.to_centre = ANY({centres}::text[]) "
            "AND case_referral_opens(r.kind, r.state)))")
    if scope.submitter_ids:
        parts.append(
            f"{alias}.creator_id = ANY({_param(args, list(scope.submitter_ids))}::integer[])")
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def and_scope(where: str, fragment: str | None) -> str:
    """`where` (a condition) and the scope's fragment, when there is one."""
    return where if fragment is None else f"{where} AND {fragment}"


# ---------------------------------------------------------------------------------------------
# The scopes table

SELECT_SCOPES_OF_ACTOR = """
SELECT project_id, kind, value, submitter_id FROM role_scopes WHERE actor_id = $1
ORDER BY project_id, kind, value, submitter_id
"""
SELECT_SCOPES_IN_PROJECT = """
SELECT r.kind, r.value, r.submitter_id, a.display_name AS submitter_name, a.type AS submitter_type
FROM role_scopes r LEFT JOIN actors a ON a.id = r.submitter_id
WHERE r.actor_id = $1 AND r.project_id = $2
ORDER BY r.kind, r.value, lower(a.display_name), r.submitter_id
"""
SELECT_PROJECT_SCOPES = """
SELECT r.actor_id, r.kind, r.value, r.submitter_id, a.display_name AS submitter_name
FROM role_scopes r LEFT JOIN actors a ON a.id = r.submitter_id
WHERE r.project_id = $1
ORDER BY r.actor_id, r.kind, r.value, lower(a.display_name)
"""
INSERT_SCOPES = """
INSERT INTO role_scopes (actor_id, project_id, kind, value, submitter_id)
SELECT $1, $2, k.kind, k.value, k.submitter_id
FROM unnest($3::text[], $4::text[], $5::integer[]) AS k(kind, value, submitter_id)
ON CONFLICT DO NOTHING
"""
DELETE_SCOPES = "DELETE FROM role_scopes WHERE actor_id = $1 AND project_id = $2"


SELECT_KNOWN_SUBMITTERS = """
SELECT a.id FROM actors a WHERE a.id = ANY($1::integer[]) AND a.deleted_at IS NULL
  AND a.type IN ('user', 'field_key')
"""
# An app user of the project by its name, or a web user by its email or name.
SELECT_SUBMITTERS_NAMED = """
SELECT a.id FROM actors a JOIN field_keys f ON f.actor_id = a.id
WHERE f.project_id = $1 AND a.display_name = $2 AND a.deleted_at IS NULL
UNION
SELECT a.id FROM actors a JOIN users u ON u.actor_id = a.id
WHERE (u.email = lower($2) OR a.display_name = $2) AND a.deleted_at IS NULL
"""


async def known_submitters(conn: asyncpg.Connection, ids: Sequence[int]) -> set[int]:
    return {r["id"] for r in await conn.fetch(SELECT_KNOWN_SUBMITTERS, list(ids))} if ids else set()


async def submitters_named(conn: asyncpg.Connection, project_id: int, name: str) -> list[int]:
    return [r["id"] for r in await conn.fetch(SELECT_SUBMITTERS_NAMED, project_id, name)]


# The centres the project's cases name, and its app users (what a scope may be set to).
SELECT_PROJECT_CENTRES = """
SELECT DISTINCT e.centre FROM entities e JOIN datasets d ON d.id = e.dataset_id
WHERE d.project_id = $1 AND e.centre IS NOT NULL
"""
SELECT_PROJECT_SUBMITTERS = """
SELECT a.id, a.display_name FROM field_keys f JOIN actors a ON a.id = f.actor_id
WHERE f.project_id = $1 AND a.deleted_at IS NULL
"""


async def project_centres(conn: asyncpg.Connection, project_id: int) -> list[str]:
    return [r["centre"] for r in await conn.fetch(SELECT_PROJECT_CENTRES, project_id)]


async def project_submitters(conn: asyncpg.Connection, project_id: int) -> list[tuple[int, str]]:
    return [(r["id"], r["display_name"])
            for r in await conn.fetch(SELECT_PROJECT_SUBMITTERS, project_id)]


async def event_in_scope(
    conn: asyncpg.Connection, subject: str, details: dict, scope: RowScope
) -> bool:
    """Whether an outbox event's record (a submission, an entity's version; a case's referral)
    is in `scope`: what a webhook's creator may be sent."""
    if not scope.limited:
        return True
    args: list[Any] = []
    if subject.startswith("submission/") and "submissionId" in details:
        args.append(details["submissionId"])
        where = submission_scope_sql(scope, args)
        return bool(await conn.fetchval(
            f"SELECT true FROM submissions s WHERE s.id = $1 AND {where}", *args))
    if subject.startswith("entity/") and "entityDefId" in details:
        args.append(details["entityDefId"])
        where = entity_scope_sql(scope, args)
        return bool(await conn.fetchval(
            "SELECT true FROM entity_defs v JOIN entities e ON e.id = v.entity_id "
            f"WHERE v.id = $1 AND {where}", *args))
    return False  # a case's referral, or anything else: not for a scoped reader


def scope_from_rows(rows: Sequence[asyncpg.Record]) -> RowScope:
    regions, centres, submitters = [], [], []
    for row in rows:
        if row["kind"] == "region":
            regions.append(row["value"])
        elif row["kind"] == "centre":
            centres.append(row["value"])
        else:
            submitters.append(row["submitter_id"])
    return RowScope(tuple(regions), tuple(centres), tuple(submitters))


async def scopes_of_actor(conn: asyncpg.Connection, actor_id: int) -> dict[int, RowScope]:
    """Every project in which the actor is scoped, with its scope."""
    by_project: dict[int, list[asyncpg.Record]] = {}
    for row in await conn.fetch(SELECT_SCOPES_OF_ACTOR, actor_id):
        by_project.setdefault(row["project_id"], []).append(row)
    return {pid: scope_from_rows(rows) for pid, rows in by_project.items()}


SELECT_SCOPES_OF_USERS = """
SELECT actor_id, project_id, kind, value, submitter_id FROM role_scopes
WHERE project_id = $1 AND actor_id = ANY($2::integer[])
"""


async def scopes_in_project(
    conn: asyncpg.Connection, project_id: int, actor_ids: Sequence[int]
) -> dict[int, RowScope]:
    """The scoped ones among `actor_ids` in the project, with their scopes."""
    by_actor: dict[int, list[asyncpg.Record]] = {}
    for row in await conn.fetch(SELECT_SCOPES_OF_USERS, project_id, list(actor_ids)):
        by_actor.setdefault(row["actor_id"], []).append(row)
    return {aid: scope_from_rows(rows) for aid, rows in by_actor.items()}


async def list_scopes(conn: asyncpg.Connection, actor_id: int, project_id: int):
    """The scope rows of one user in one project, with each submitter's name."""
    return await conn.fetch(SELECT_SCOPES_IN_PROJECT, actor_id, project_id)


async def project_scopes(conn: asyncpg.Connection, project_id: int):
    return await conn.fetch(SELECT_PROJECT_SCOPES, project_id)


async def replace_scopes(
    conn: asyncpg.Connection, actor_id: int, project_id: int, scope: RowScope
) -> None:
    """The user's scope in the project becomes `scope` (inside the caller's transaction)."""
    await conn.execute(DELETE_SCOPES, actor_id, project_id)
    kinds = (["region"] * len(scope.regions) + ["centre"] * len(scope.centres)
             + ["submitter"] * len(scope.submitter_ids))
    values = [*scope.regions, *scope.centres, *([None] * len(scope.submitter_ids))]
    submitters = [None] * (len(scope.regions) + len(scope.centres)) + list(scope.submitter_ids)
    if kinds:
        await conn.execute(INSERT_SCOPES, actor_id, project_id, kinds, values, submitters)

"""SQL of projects."""

from __future__ import annotations

import asyncpg

PROJECT_COLUMNS = "p.id, p.name, p.description, p.created_at, p.archived"

INSERT_PROJECT = """
INSERT INTO projects (name, description) VALUES ($1, $2)
RETURNING id, name, description, created_at, archived
"""
UPDATE_PROJECT = """
UPDATE projects SET name = coalesce($2, name), description = coalesce($3, description),
                    archived = coalesce($4, archived)
WHERE id = $1 RETURNING id, name, description, created_at, archived
"""
SELECT_PROJECT = f"SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1"
SELECT_PROJECTS_BY_NAME = f"SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.name = $1 ORDER BY p.id"
SELECT_ALL_PROJECTS = f"SELECT {PROJECT_COLUMNS} FROM projects p ORDER BY p.id"
SELECT_PROJECTS_OF_ACTOR = f"""
SELECT {PROJECT_COLUMNS} FROM projects p
WHERE p.id IN (SELECT project_id FROM assignments WHERE actor_id = $1
               UNION SELECT project_id FROM field_keys WHERE actor_id = $1 AND revoked_at IS NULL)
ORDER BY p.id
"""


async def create_project(
    conn: asyncpg.Connection, name: str, description: str | None = None
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_PROJECT, name, description)


async def get_project(conn: asyncpg.Connection, project_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PROJECT, project_id)


async def projects_by_name(conn: asyncpg.Connection, name: str) -> list[asyncpg.Record]:
    """Projects may share a name, as in ODK Central (migration 0013); oldest first."""
    return await conn.fetch(SELECT_PROJECTS_BY_NAME, name)

SELECT_ARCHIVED_FOR_SHARE = "SELECT archived FROM projects WHERE id = $1 FOR SHARE"


async def list_projects(conn: asyncpg.Connection, actor_id: int | None) -> list[asyncpg.Record]:
    """All projects (actor_id None: an admin), or those the actor has a role in."""
    if actor_id is None:
        return await conn.fetch(SELECT_ALL_PROJECTS)
    return await conn.fetch(SELECT_PROJECTS_OF_ACTOR, actor_id)


async def update_project(
    conn: asyncpg.Connection, project_id: int, *, name: str | None = None,
    description: str | None = None, archived: bool | None = None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(UPDATE_PROJECT, project_id, name, description, archived)


async def lock_archived(conn: asyncpg.Connection, project_id: int) -> bool | None:
    """The project's archived flag (None: no such project), its row held FOR SHARE until the
    caller's transaction ends (when there is one)."""
    return await conn.fetchval(SELECT_ARCHIVED_FOR_SHARE, project_id)

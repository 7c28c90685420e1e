"""Projects: create, rename, archive, for REST (/v1/projects) and the admin pages alike."""

from __future__ import annotations

import asyncpg

from api.auth import Actor, require_admin
from api.form_cache import forget_project
from api.problems import Problem
from db import audits
from db import projects as projects_db
from forms.numbers import MAX_INTEGER, whole_number


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Problem("request-invalid", "A project needs a name.")
    return name


async def create_project(
    conn: asyncpg.Connection, actor: Actor | None, name: str, description: str | None = None
) -> asyncpg.Record:
    actor = require_admin(actor)
    return await store_project(conn, name, description, actor_id=actor.id)


async def store_project(
    conn: asyncpg.Connection, name: str, description: str | None, *, actor_id: int | None
) -> asyncpg.Record:
    """Creates a project and its audit row in one transaction; the caller has checked who may
    (create_project) or is the operator at the server (the CLI, actor_id None)."""
    name = _name(name)
    # names may repeat, as in ODK Central (migration 0013): the id is the key
    async with conn.transaction():
        row = await projects_db.create_project(conn, name, description)
        await audits.log_audit(conn, actor_id, "project.create", f"project/{row['id']}")
    return row


async def projects_by_reference(conn: asyncpg.Connection, ref: str) -> list[asyncpg.Record]:
    """The project an operator means by `ref`: the one with that id, else every project of
    that name (names may repeat), oldest first."""
    number = whole_number(ref, MAX_INTEGER)
    row = await projects_db.get_project(conn, number) if number is not None else None
    return [row] if row is not None else await projects_db.projects_by_name(conn, ref)


async def update_project(
    conn: asyncpg.Connection,
    actor: Actor | None,
    project_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> asyncpg.Record:
    """Renames, describes or (un)archives a project (administrators only), as Central's
    PATCH /v1/projects/:id. An archived project keeps its data, stays readable and is
    read-only (`require_writable_project`)."""
    actor = require_admin(actor)
    if name is not None:
        name = _name(name)
    async with conn.transaction():
        row = await projects_db.update_project(
            conn, project_id, name=name, description=description, archived=archived
        )
        if row is None:
            raise Problem("project-not-found")
        changed = {k: v for k, v in (("name", name), ("description", description),
                                     ("archived", archived)) if v is not None}
        await audits.log_audit(conn, actor.id, "project.update", f"project/{project_id}", changed)
    if archived is not None:
        forget_project(project_id)
    return row


async def require_writable_project(conn: asyncpg.Connection, project_id: int) -> None:
    """An archived project is read-only: nothing is added to it or changed in it until it is
    unarchived. Inside a transaction the project's row is held (FOR SHARE) until it ends, so
    archiving waits for a write that has passed this check."""
    archived = await projects_db.lock_archived(conn, project_id)
    if archived is None:
        raise Problem("project-not-found")
    if archived:
        raise Problem("project-archived")

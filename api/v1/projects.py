"""Projects: GET/POST /v1/projects, GET /v1/projects/{pid}."""

from __future__ import annotations

import asyncpg
from litestar import get, post

from api.auth import Actor, authorize, require_actor, require_admin
from api.problems import Problem
from api.v1.schemas import ProjectCreate, ProjectOut
from db import audits, projects


def project_out(row) -> ProjectOut:
    return ProjectOut(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        archived=row["archived"],
    )


@get("/v1/projects")
async def list_projects(conn: asyncpg.Connection, actor: Actor | None) -> list[ProjectOut]:
    actor = require_actor(actor)
    rows = await projects.list_projects(conn, None if actor.is_admin else actor.id)
    return [project_out(r) for r in rows]


@post("/v1/projects", status_code=200)
async def create_project(
    data: ProjectCreate, conn: asyncpg.Connection, actor: Actor | None
) -> ProjectOut:
    actor = require_admin(actor)
    if not data.name.strip():
        raise Problem("request-invalid", "A project needs a name.")
    try:
        async with conn.transaction():
            row = await projects.create_project(conn, data.name.strip(), data.description)
            await audits.log_audit(conn, actor.id, "project.create", f"project/{row['id']}")
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "projects_name_unique":
            raise Problem(
                "project-exists", details={"fields": ["name"], "values": [data.name.strip()]}
            ) from exc
        raise
    return project_out(row)


@get("/v1/projects/{project_id:int}")
async def get_project(project_id: int, conn: asyncpg.Connection, actor: Actor | None) -> ProjectOut:
    authorize(actor, "project.read", project_id)
    row = await projects.get_project(conn, project_id)
    if row is None:
        raise Problem("project-not-found")
    return project_out(row)

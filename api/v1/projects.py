"""Projects: GET/POST /v1/projects, GET /v1/projects/{pid}."""

from __future__ import annotations

import asyncpg
from litestar import get, patch, post

from api.auth import Actor, authorize, require_actor
from api.problems import Problem
from api.services import projects as projects_service
from api.v1.schemas import ProjectCreate, ProjectOut, ProjectUpdate
from db import projects


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
    return project_out(await projects_service.create_project(conn, actor, data.name, data.description))


@patch("/v1/projects/{project_id:int}")
async def update_project(
    project_id: int, data: ProjectUpdate, conn: asyncpg.Connection, actor: Actor | None
) -> ProjectOut:
    """Central's PATCH /v1/projects/:id: name, description, archived."""
    row = await projects_service.update_project(
        conn, actor, project_id, name=data.name, description=data.description, archived=data.archived
    )
    return project_out(row)


@get("/v1/projects/{project_id:int}")
async def get_project(project_id: int, conn: asyncpg.Connection, actor: Actor | None) -> ProjectOut:
    authorize(actor, "project.read", project_id)
    row = await projects.get_project(conn, project_id)
    if row is None:
        raise Problem("project-not-found")
    return project_out(row)

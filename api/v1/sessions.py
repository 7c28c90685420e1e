"""Sessions and users: POST/DELETE /v1/sessions, /v1/users, role assignments."""

from __future__ import annotations

import asyncpg
from litestar import Request, delete, get, post

from api.auth import (
    ROLES,
    Actor,
    authorize,
    digest_ha1,
    hash_password,
    require_actor,
    require_admin,
    token_hash,
)
from api.problems import Problem
from api.services.sessions import password_login
from api.settings import Settings
from api.v1.schemas import AssignmentOut, SessionCreate, SessionOut, UserCreate, UserOut
from db import audits, projects, users


@post("/v1/sessions", status_code=200)
async def create_session(
    data: SessionCreate, conn: asyncpg.Connection, settings: Settings, request: Request
) -> SessionOut:
    session = await password_login(
        conn, data.email, data.password, request.client.host if request.client else None,
        settings,
    )
    return SessionOut(token=session.token, expires_at=session.expires_at, created_at=session.created_at)


@delete("/v1/sessions/{token:str}", status_code=200)
async def delete_session(token: str, conn: asyncpg.Connection, actor: Actor | None) -> dict:
    actor = require_actor(actor)
    async with conn.transaction():
        owner = await users.delete_session(conn, token_hash(token))
        if owner is None:
            raise Problem("not-found", "No such session.")
        if owner != actor.id and not actor.is_admin:
            raise Problem("forbidden", "That session belongs to someone else.")
        await audits.log_audit(conn, actor.id, "user.session.end", f"user/{owner}")
    return {"success": True}


def user_out(row, roles: dict[int, frozenset[str]] | None = None) -> UserOut:
    return UserOut(
        id=row["id"],
        type="user",
        display_name=row["display_name"],
        email=row["email"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        is_admin=row["is_admin"],
        roles={str(pid): sorted(r) for pid, r in (roles or {}).items()},
    )


@get("/v1/users/current")
async def current_user(conn: asyncpg.Connection, actor: Actor | None) -> UserOut:
    actor = require_actor(actor)
    if actor.type != "user":
        raise Problem("forbidden", "App users have no user profile.")
    row = await users.get_user(conn, actor.id)
    if row is None:
        raise Problem("user-not-found")
    return user_out(row, actor.roles)


@get("/v1/users")
async def list_users(conn: asyncpg.Connection, actor: Actor | None) -> list[UserOut]:
    require_admin(actor)
    return [user_out(r) for r in await users.list_users(conn)]


@post("/v1/users", status_code=200)
async def create_user(data: UserCreate, conn: asyncpg.Connection, actor: Actor | None) -> UserOut:
    actor = require_admin(actor)
    if "@" not in data.email:
        raise Problem("request-invalid", "email must be an email address.")
    try:
        async with conn.transaction():
            row = await users.create_user(
                conn,
                data.email,
                hash_password(data.password) if data.password else None,
                display_name=data.display_name,
                is_admin=data.is_admin,
                digest_ha1=(
                    digest_ha1(data.email, data.password)
                    if data.password and not data.is_admin
                    else None
                ),
            )
            await audits.log_audit(
                conn, actor.id, "user.create", f"user/{row['id']}", {"email": row["email"]}
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "users_email_unique":
            raise Problem(
                "user-exists", details={"fields": ["email"], "values": [data.email]}
            ) from exc
        raise
    full = await users.get_user(conn, row["id"])
    return user_out(full)


@post("/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}", status_code=200)
async def assign_role(
    project_id: int, role: str, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> AssignmentOut:
    actor = authorize(actor, "app_user.manage", project_id)
    if role not in ROLES:
        raise Problem("request-invalid", f"role must be one of {', '.join(ROLES)}.")
    if role != "collector" and not actor.is_admin:
        raise Problem("forbidden", "Only an administrator may grant this role.")
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    if await users.get_user(conn, actor_id) is None:
        raise Problem("user-not-found")
    async with conn.transaction():
        await users.assign_role(conn, actor_id, project_id, role)
        await audits.log_audit(
            conn,
            actor.id,
            "user.assignment.create",
            f"user/{actor_id}",
            {"projectId": project_id, "role": role},
        )
    return AssignmentOut(actor_id=actor_id, project_id=project_id, role=role)


@delete("/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}", status_code=200)
async def unassign_role(
    project_id: int, role: str, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    actor = require_admin(actor)
    async with conn.transaction():
        await users.unassign_role(conn, actor_id, project_id, role)
        await audits.log_audit(
            conn,
            actor.id,
            "user.assignment.delete",
            f"user/{actor_id}",
            {"projectId": project_id, "role": role},
        )
    return {"success": True}

"""Sessions and users: POST/DELETE /v1/sessions, /v1/users, role assignments."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, delete, get, post, put

from api.auth import (
    Actor,
    require_actor,
    require_admin,
    token_hash,
)
from api.problems import Problem
from api.services import app_users as app_user_service
from api.services import scopes as scopes_service
from api.services import users as users_service
from api.services.sessions import password_login
from api.settings import Settings
from api.v1.schemas import AssignmentOut, SessionCreate, SessionOut, UserCreate, UserOut
from db import audits, users


@post("/v1/sessions", status_code=200)
async def create_session(
    data: SessionCreate, conn: asyncpg.Connection, settings: Settings, request: Request
) -> SessionOut:
    session = await password_login(
        conn, data.email, data.password, request.client.host if request.client else None,
        settings, code=data.code,
    )
    return SessionOut(token=session.token, expires_at=session.expires_at, created_at=session.created_at)


@delete("/v1/sessions/{token:str}", status_code=200)
async def delete_session(token: str, conn: asyncpg.Connection, actor: Actor | None) -> dict:
    """Log a session out; an app user's token (as Central's frontend revokes access) stops
    working, and the app user stays listed without a token."""
    actor = require_actor(actor)
    async with conn.transaction():
        owner = await users.delete_session(conn, token_hash(token))
        if owner is None:
            key = await users.get_field_key_by_token(conn, token)
            if key is None:
                raise Problem("not-found", "No such session.")
            await app_user_service.revoke_access(conn, actor, key["project_id"], key["id"])
            return {"success": True}
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
    row = await users_service.create_user(
        conn, actor, data.email, data.password, display_name=data.display_name,
        is_admin=data.is_admin,
    )
    return user_out(row)


@delete("/v1/users/{actor_id:int}", status_code=200)
async def delete_user(actor_id: int, conn: asyncpg.Connection, actor: Actor | None) -> dict:
    """Central's DELETE /v1/users/:id: the user is deactivated (kept for the audit log)."""
    await users_service.deactivate_user(conn, actor, actor_id)
    return {"success": True}


@post("/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}", status_code=200)
async def assign_role(
    project_id: int, role: str, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> AssignmentOut:
    await users_service.assign_role(conn, actor, project_id, role, actor_id)
    return AssignmentOut(actor_id=actor_id, project_id=project_id, role=role)


@delete("/v1/projects/{project_id:int}/assignments/{role:str}/{actor_id:int}", status_code=200)
async def unassign_role(
    project_id: int, role: str, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    await users_service.unassign_role(conn, actor, project_id, role, actor_id)
    return {"success": True}


# --- row scopes (issue 24): an extension of Central's role assignments --------------------------

SCOPE_PATH = "/v1/projects/{project_id:int}/assignments/scopes/{actor_id:int}"


class ScopeIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    regions: list[str] = msgspec.field(default_factory=list)
    centres: list[str] = msgspec.field(default_factory=list)
    submitters: list[int] = msgspec.field(default_factory=list)  # actor ids


class SubmitterOut(msgspec.Struct, rename="camel"):
    id: int
    display_name: str


class ScopeOut(msgspec.Struct, rename="camel"):
    actor_id: int
    project_id: int
    regions: list[str]
    centres: list[str]
    submitters: list[SubmitterOut]
    scoped: bool  # false: the user's roles read the whole project


def scope_out(view, actor_id: int, project_id: int) -> ScopeOut:
    return ScopeOut(actor_id=actor_id, project_id=project_id, regions=list(view.regions),
                    centres=list(view.centres),
                    submitters=[SubmitterOut(i, n) for i, n in view.submitters],
                    scoped=view.limited)


@get(SCOPE_PATH)
async def get_scope(
    project_id: int, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> ScopeOut:
    view = await scopes_service.get_user_scope(conn, actor, project_id, actor_id)
    return scope_out(view, actor_id, project_id)


@put(SCOPE_PATH)
async def put_scope(
    project_id: int, actor_id: int, data: ScopeIn, conn: asyncpg.Connection,
    actor: Actor | None,
) -> ScopeOut:
    """The user's scope in the project becomes this one; all lists empty: the whole project."""
    view = await scopes_service.set_user_scope(
        conn, actor, project_id, actor_id, regions=data.regions, centres=data.centres,
        submitter_ids=data.submitters)
    return scope_out(view, actor_id, project_id)


@delete(SCOPE_PATH, status_code=200)
async def delete_scope(
    project_id: int, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> ScopeOut:
    view = await scopes_service.set_user_scope(conn, actor, project_id, actor_id)
    return scope_out(view, actor_id, project_id)

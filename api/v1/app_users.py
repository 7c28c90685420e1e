"""App users: GET/POST /v1/projects/{pid}/app-users, revoke, QR code, form assignments."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, patch, post

from api.app_users import collect_server_url
from api.auth import Actor
from api.http import base_url
from api.services import app_users as app_user_service
from api.settings import Settings
from api.v1.schemas import Name


class AppUserCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    display_name: Name
    centre: str | None = None  # the support centre whose cases its phone gets (api/scopes.py)


class AppUserPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    centre: str | None  # null: the phone gets every case again


class AppUserOut(msgspec.Struct, rename="camel"):
    id: int
    type: str
    display_name: str
    token: str | None
    project_id: int
    created_at: datetime
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    server_url: str | None = None
    centre: str | None = None


class FormAssignmentOut(msgspec.Struct, rename="camel"):
    actor_id: int
    role_id: str = "app-user"


def app_user_out(row, server_url: str | None) -> AppUserOut:
    return AppUserOut(
        id=row["id"],
        type="field_key",
        display_name=row["display_name"],
        token=None if row.get("revoked_at") else row["token"],
        project_id=row["project_id"],
        created_at=row["created_at"],
        updated_at=row.get("updated_at"),
        deleted_at=row.get("deleted_at"),
        server_url=server_url,
        centre=row.get("centre"),
    )


@get("/v1/projects/{project_id:int}/app-users")
async def list_app_users(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None,
    settings: Settings,
) -> list[AppUserOut]:
    rows = await app_user_service.list_app_users(conn, actor, project_id)
    base = base_url(request, settings)
    return [app_user_out(dict(r), collect_server_url(base, r["token"], project_id)) for r in rows]


@post("/v1/projects/{project_id:int}/app-users", status_code=200)
async def post_app_user(
    project_id: int, data: AppUserCreate, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, settings: Settings,
) -> AppUserOut:
    row = await app_user_service.create_app_user(conn, actor, project_id, data.display_name,
                                                 centre=data.centre)
    server = collect_server_url(base_url(request, settings), row["token"], project_id)
    return app_user_out(dict(row), server)


@patch("/v1/projects/{project_id:int}/app-users/{actor_id:int}")
async def patch_app_user(
    project_id: int, actor_id: int, data: AppUserPatch, request: Request,
    conn: asyncpg.Connection, actor: Actor | None, settings: Settings,
) -> AppUserOut:
    """Tie the app user to a support centre, or untie it (centre: null)."""
    row = await app_user_service.set_centre(conn, actor, project_id, actor_id, data.centre)
    server = collect_server_url(base_url(request, settings), row["token"], project_id)
    return app_user_out(dict(row), server)


@delete("/v1/projects/{project_id:int}/app-users/{actor_id:int}", status_code=200)
async def revoke_app_user(
    project_id: int, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    await app_user_service.revoke_app_user(conn, actor, project_id, actor_id)
    return {"success": True}


@get("/v1/projects/{project_id:int}/app-users/{actor_id:int}/qr.png")
async def app_user_qr(
    project_id: int, actor_id: int, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, settings: Settings,
) -> Response:
    png, _, _ = await app_user_service.app_user_qr(
        conn, actor, project_id, actor_id, base_url(request, settings)
    )
    return Response(png, media_type="image/png")


@get("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}")
async def list_form_app_users(
    project_id: int, xml_form_id: str, role: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormAssignmentOut]:
    rows = await app_user_service.form_app_users(conn, actor, project_id, xml_form_id, role)
    return [FormAssignmentOut(actor_id=r["actor_id"]) for r in rows]


@post(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}",
    status_code=200,
)
async def assign_app_user(
    project_id: int, xml_form_id: str, role: str, actor_id: int, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    await app_user_service.assign_form(conn, actor, project_id, xml_form_id, actor_id, role)
    return {"success": True}


@delete(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}",
    status_code=200,
)
async def unassign_app_user(
    project_id: int, xml_form_id: str, role: str, actor_id: int, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    await app_user_service.unassign_form(conn, actor, project_id, xml_form_id, actor_id, role)
    return {"success": True}

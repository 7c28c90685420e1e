"""App users: GET/POST /v1/projects/{pid}/app-users, revoke, QR code, form assignments."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, post

from api.app_users import collect_server_url, collect_settings_payload, qr_png
from api.auth import Actor, authorize, forget_field_key, new_token
from api.openrosa import base_url
from api.problems import Problem
from api.settings import Settings
from db import audits, projects, users
from db import forms as forms_db


class AppUserCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    display_name: str


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
    )


async def create_app_user(
    conn: asyncpg.Connection, project_id: int, display_name: str, created_by: int | None
):
    async with conn.transaction():
        row = await users.create_field_key(conn, display_name, project_id, new_token(), created_by)
        await audits.log_audit(
            conn, created_by, "field_key.create", f"field_key/{row['id']}",
            {"projectId": project_id, "displayName": display_name},
        )
    return row


@get("/v1/projects/{project_id:int}/app-users")
async def list_app_users(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None,
    settings: Settings,
) -> list[AppUserOut]:
    authorize(actor, "app_user.manage", project_id)
    base = base_url(request, settings)
    return [
        app_user_out(dict(r), collect_server_url(base, r["token"], project_id))
        for r in await users.list_field_keys(conn, project_id)
    ]


@post("/v1/projects/{project_id:int}/app-users", status_code=200)
async def post_app_user(
    project_id: int, data: AppUserCreate, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, settings: Settings,
) -> AppUserOut:
    actor = authorize(actor, "app_user.manage", project_id)
    if not data.display_name.strip():
        raise Problem("request-invalid", "An app user needs a displayName.")
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    row = await create_app_user(conn, project_id, data.display_name.strip(), actor.id)
    server = collect_server_url(base_url(request, settings), row["token"], project_id)
    return app_user_out(dict(row), server)


@delete("/v1/projects/{project_id:int}/app-users/{actor_id:int}", status_code=200)
async def revoke_app_user(
    project_id: int, actor_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    actor = authorize(actor, "app_user.manage", project_id)
    async with conn.transaction():
        if not await users.revoke_field_key(conn, actor_id, project_id):
            raise Problem("app-user-not-found")
        await audits.log_audit(conn, actor.id, "field_key.revoke", f"field_key/{actor_id}")
    forget_field_key(actor_id)
    return {"success": True}


@get("/v1/projects/{project_id:int}/app-users/{actor_id:int}/qr.png")
async def app_user_qr(
    project_id: int, actor_id: int, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, settings: Settings,
) -> Response:
    authorize(actor, "app_user.manage", project_id)
    row = await users.get_field_key(conn, actor_id, project_id)
    if row is None or row["revoked_at"] is not None:
        raise Problem("app-user-not-found")
    project = await projects.get_project(conn, project_id)
    server = collect_server_url(base_url(request, settings), row["token"], project_id)
    png = qr_png(collect_settings_payload(server, project["name"]))
    return Response(png, media_type="image/png")


# Central names the app-user role "app-user" or by its id, 2 (what pyodk sends).
APP_USER_ROLES = ("app-user", "2")


def _app_user_role(role: str) -> None:
    if role not in APP_USER_ROLES:
        raise Problem("request-invalid", "Forms are assigned to app users only (role app-user or 2).")


async def _form_id(conn, project_id: int, xml_form_id: str) -> int:
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    if form is None:
        raise Problem("form-not-found")
    return form["id"]


@get("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}")
async def list_form_app_users(
    project_id: int, xml_form_id: str, role: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormAssignmentOut]:
    authorize(actor, "app_user.manage", project_id)
    _app_user_role(role)
    form_id = await _form_id(conn, project_id, xml_form_id)
    return [FormAssignmentOut(actor_id=r["actor_id"]) for r in await users.list_form_assignments(conn, form_id)]


@post(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}",
    status_code=200,
)
async def assign_app_user(
    project_id: int, xml_form_id: str, role: str, actor_id: int, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    actor = authorize(actor, "app_user.manage", project_id)
    _app_user_role(role)
    form_id = await _form_id(conn, project_id, xml_form_id)
    key = await users.get_field_key(conn, actor_id, project_id)
    if key is None or key["revoked_at"] is not None:
        raise Problem("app-user-not-found")
    async with conn.transaction():
        await users.assign_form(conn, actor_id, form_id)
        await audits.log_audit(
            conn, actor.id, "field_key.assignment.create", f"field_key/{actor_id}",
            {"form": xml_form_id},
        )
    forget_field_key(actor_id)
    return {"success": True}


@delete(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/assignments/{role:str}/{actor_id:int}",
    status_code=200,
)
async def unassign_app_user(
    project_id: int, xml_form_id: str, role: str, actor_id: int, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    actor = authorize(actor, "app_user.manage", project_id)
    _app_user_role(role)
    form_id = await _form_id(conn, project_id, xml_form_id)
    async with conn.transaction():
        if not await users.unassign_form(conn, actor_id, form_id):
            raise Problem("app-user-not-found", "That app user is not assigned to this form.")
        await audits.log_audit(
            conn, actor.id, "field_key.assignment.delete", f"field_key/{actor_id}",
            {"form": xml_form_id},
        )
    forget_field_key(actor_id)
    return {"success": True}

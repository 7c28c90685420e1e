"""App users (phones), shared by the REST API and the pages: create, list, revoke, assign
forms, and the QR code that configures ODK Collect. Permissions come from `api.auth`."""

from __future__ import annotations

import asyncpg

from api.app_users import collect_server_url, collect_settings_payload, qr_png
from api.auth import Actor, authorize, forget_field_key, new_token
from api.i18n import N_
from api.problems import Problem
from api.scopes import clean_centre
from api.services.forms import form_or_404
from api.services.projects import require_writable_project
from db import audits, projects, users
from db import forms as forms_db

MAX_NAME_LENGTH = 200
# Central names the app-user role "app-user" or by its id, 2 (what pyodk sends).
APP_USER_ROLES = ("app-user", "2")


def _app_user_role(role: str) -> None:
    if role not in APP_USER_ROLES:
        raise Problem("request-invalid",
                      N_("Forms are assigned to app users only (role app-user or 2)."))


async def _form_id(conn: asyncpg.Connection, project_id: int, xml_form_id: str) -> int:
    form = await form_or_404(conn, project_id, xml_form_id)
    return form["id"]


async def list_app_users(conn: asyncpg.Connection, actor: Actor | None, project_id: int):
    authorize(actor, "app_user.manage", project_id)
    return await users.list_field_keys(conn, project_id)


async def create_app_user(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, display_name: str,
    form_ids: tuple[str, ...] = (), centre: str | None = None,
):
    """A new app user, assigned to the named forms (in one transaction); tied to `centre`,
    its phone gets only that centre's cases (api/scopes.py)."""
    actor = authorize(actor, "app_user.manage", project_id)
    await require_writable_project(conn, project_id)
    return await store_app_user(conn, project_id, display_name, actor.id, form_ids, centre)


async def store_app_user(
    conn: asyncpg.Connection, project_id: int, display_name: str, created_by: int | None,
    form_ids: tuple[str, ...] = (), centre: str | None = None,
):
    """create_app_user without the permission check: for the CLI (the server's operator)."""
    centre = clean_centre(centre)
    name = (display_name or "").strip()
    if not name:
        raise Problem("request-invalid", N_("An app user needs a displayName."))
    if len(name) > MAX_NAME_LENGTH:
        raise Problem("request-invalid", N_("A displayName has at most %(n)s characters."),
                      params={"n": MAX_NAME_LENGTH})
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    forms = [(x, await _form_id(conn, project_id, x)) for x in dict.fromkeys(form_ids)]
    async with conn.transaction():
        row = await users.create_field_key(conn, name, project_id, new_token(), created_by,
                                           centre)
        await audits.log_audit(
            conn, created_by, "field_key.create", f"field_key/{row['id']}",
            {"projectId": project_id, "displayName": name,
             **({"centre": centre} if centre else {})},
        )
        for xml_form_id, form_id in forms:
            await users.assign_form(conn, row["id"], form_id)
            await audits.log_audit(
                conn, created_by, "field_key.assignment.create", f"field_key/{row['id']}",
                {"form": xml_form_id},
            )
    return row


async def published_form_ids(conn: asyncpg.Connection, project_id: int) -> list[str]:
    """The xmlFormIds of the project's published forms (what an app user may be given)."""
    return [f["xml_form_id"] for f in await forms_db.list_forms(conn, project_id)
            if f["current_def_id"]]


async def live_app_user(conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int):
    """An app user that has not been revoked, else app-user-not-found."""
    authorize(actor, "app_user.manage", project_id)
    row = await users.get_field_key(conn, actor_id, project_id)
    if row is None or row["revoked_at"] is not None:
        raise Problem("app-user-not-found")
    return row


async def set_centre(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int,
    centre: str | None,
):
    """Tie an app user to a support centre (its phone then gets only that centre's cases and
    may update no other), or untie it (None). Returns the app user."""
    actor = authorize(actor, "app_user.manage", project_id)
    await require_writable_project(conn, project_id)
    centre = clean_centre(centre)
    async with conn.transaction():
        if not await users.set_field_key_centre(conn, actor_id, project_id, centre):
            raise Problem("app-user-not-found")
        await audits.log_audit(conn, actor.id, "field_key.update", f"field_key/{actor_id}",
                               {"centre": centre})
    forget_field_key(actor_id)
    return await live_app_user(conn, actor, project_id, actor_id)


async def revoke_access(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int
) -> None:
    """Central's "Revoke access": the app user's token stops working at once; the app user
    stays in the list (without a token, shown greyed), its submissions keep its name."""
    await _end_app_user(conn, actor, project_id, actor_id, remove=False)


async def revoke_app_user(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int
) -> None:
    """Central's DELETE of an app user: revoked and no longer listed."""
    await _end_app_user(conn, actor, project_id, actor_id, remove=True)


async def _end_app_user(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int, *,
    remove: bool,
) -> None:
    actor = authorize(actor, "app_user.manage", project_id)
    revoke = users.revoke_field_key if remove else users.revoke_field_key_access
    async with conn.transaction():
        if not await revoke(conn, actor_id, project_id):
            raise Problem("app-user-not-found")
        await audits.log_audit(conn, actor.id, "field_key.revoke" if remove
                               else "field_key.session.end", f"field_key/{actor_id}")
    forget_field_key(actor_id)


async def assign_form(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    actor_id: int, role: str = "app-user",
) -> None:
    """Let an app user download and send a form."""
    await _set_assignment(conn, actor, project_id, xml_form_id, actor_id, role, assigned=True)


async def unassign_form(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    actor_id: int, role: str = "app-user",
) -> None:
    await _set_assignment(conn, actor, project_id, xml_form_id, actor_id, role, assigned=False)


async def _set_assignment(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    actor_id: int, role: str, *, assigned: bool,
) -> None:
    actor = authorize(actor, "app_user.manage", project_id)
    _app_user_role(role)
    form_id = await _form_id(conn, project_id, xml_form_id)
    if assigned:
        await require_writable_project(conn, project_id)
        await live_app_user(conn, actor, project_id, actor_id)
    async with conn.transaction():
        if assigned:
            await users.assign_form(conn, actor_id, form_id)
        elif not await users.unassign_form(conn, actor_id, form_id):
            raise Problem("app-user-not-found", N_("That app user is not assigned to this form."))
        await audits.log_audit(
            conn, actor.id,
            "field_key.assignment.create" if assigned else "field_key.assignment.delete",
            f"field_key/{actor_id}", {"form": xml_form_id},
        )
    forget_field_key(actor_id)


async def form_app_users(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    role: str = "app-user",
) -> list[asyncpg.Record]:
    authorize(actor, "app_user.manage", project_id)
    _app_user_role(role)
    return await users.list_form_assignments(conn, await _form_id(conn, project_id, xml_form_id))


async def app_user_qr(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, actor_id: int,
    base_url: str, *, scale: int = 6,
) -> tuple[bytes, str, asyncpg.Record]:
    """(PNG of the QR code, the Collect server URL, the app user)."""
    row = await live_app_user(conn, actor, project_id, actor_id)
    project = await projects.get_project(conn, project_id)
    server = collect_server_url(base_url, row["token"], project_id)
    return qr_png(collect_settings_payload(server, project["name"]), scale=scale), server, row

"""Public access links (ODK Central's public links): a link opens one form in the browser
with no login and submits to it. Each link is an actor; creating and revoking are audited.
REST (api/v1/public_links.py) and the pages call these functions."""

from __future__ import annotations

import asyncpg

from api.auth import Actor, authorize, forget_field_key, new_token
from api.i18n import N_
from api.problems import Problem
from api.services.forms import form_or_404
from api.services.projects import require_writable_project
from db import audits
from db import forms as forms_db
from db import public_links as links_db

PERMISSION = "form.update"  # Central grants public_link.* to project managers


async def form_for_links(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str
) -> tuple[Actor, asyncpg.Record]:
    actor = authorize(actor, PERMISSION, project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    return actor, form


async def create_public_link(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    display_name: str, once: bool,
) -> asyncpg.Record:
    actor, form = await form_for_links(conn, actor, project_id, xml_form_id)
    await require_writable_project(conn, project_id)
    if await reads_entity_list(conn, form):
        raise Problem("public-link-entity-form")
    name = display_name.strip()
    if not name:
        raise Problem("request-invalid", N_("A public link needs a displayName."))
    async with conn.transaction():
        row = await links_db.create_public_link(conn, form["id"], name, once, new_token(), actor.id)
        await audits.log_audit(
            conn, actor.id, "public_link.create", f"public_link/{row['id']}",
            {"projectId": project_id, "xmlFormId": xml_form_id, "displayName": name,
             "once": once},
        )
    return await links_db.get_public_link(conn, form["id"], row["id"])


async def reads_entity_list(conn: asyncpg.Connection, form: asyncpg.Record) -> bool:
    """Whether the form (its published version, and its draft) reads an entity list: such a
    form gets no public link, since the list (every case's data) would go to anyone with the
    link; links made before are served no entity data (api/pages/fill.py)."""
    for def_id in (form["current_def_id"], form["draft_def_id"]):
        if def_id is not None and await forms_db.reads_entity_list(conn, def_id):
            return True
    return False


async def list_public_links(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str
) -> list[asyncpg.Record]:
    _, form = await form_for_links(conn, actor, project_id, xml_form_id)
    return await links_db.list_public_links(conn, form["id"])


async def get_public_link(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    link_id: int,
) -> asyncpg.Record:
    _, form = await form_for_links(conn, actor, project_id, xml_form_id)
    row = await links_db.get_public_link(conn, form["id"], link_id)
    if row is None:
        raise Problem("public-link-not-found")
    return row


async def revoke_public_link(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    link_id: int,
) -> None:
    actor, form = await form_for_links(conn, actor, project_id, xml_form_id)
    async with conn.transaction():
        if not await links_db.revoke_public_link(conn, form["id"], link_id):
            raise Problem("public-link-not-found")
        await audits.log_audit(
            conn, actor.id, "public_link.delete", f"public_link/{link_id}",
            {"projectId": project_id, "xmlFormId": xml_form_id},
        )
    forget_field_key(link_id)  # the token stops working in this process at once

"""Public access links, as ODK Central's REST API has them:
GET/POST /v1/projects/{pid}/forms/{xmlFormId}/public-links, GET/DELETE .../public-links/{id}."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Request, delete, get, post

from api.auth import Actor
from api.http import base_url, extended_metadata
from api.services import public_links as service
from api.settings import Settings

PATH = "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/public-links"


class PublicLinkCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    display_name: str
    once: bool | None = None


class ActorRef(msgspec.Struct, rename="camel"):
    id: int
    display_name: str
    type: str = "user"


class PublicLinkOut(msgspec.Struct, rename="camel"):
    id: int
    type: str
    display_name: str
    created_at: datetime
    updated_at: datetime | None
    deleted_at: datetime | None
    token: str | None
    url: str | None  # where the link opens the form (not in Central's answer)
    once: bool | msgspec.UnsetType = msgspec.UNSET  # Central leaves it out unless given
    created_by: ActorRef | msgspec.UnsetType = msgspec.UNSET  # X-Extended-Metadata: true


def public_link_out(row, base: str, extended: bool) -> PublicLinkOut:
    live = row["revoked_at"] is None
    return PublicLinkOut(
        id=row["id"],
        type="public_link",
        display_name=row["display_name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        token=row["token"] if live else None,
        url=f"{base}/f/{row['token']}" if live else None,
        once=True if row["once"] else msgspec.UNSET,
        created_by=(
            ActorRef(row["created_by"], row["created_by_name"])
            if extended and row["created_by"] is not None else msgspec.UNSET
        ),
    )


@get(PATH)
async def list_public_links(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, settings: Settings,
) -> list[PublicLinkOut]:
    rows = await service.list_public_links(conn, actor, project_id, xml_form_id)
    base = base_url(request, settings)
    return [public_link_out(r, base, extended_metadata(request)) for r in rows]


@post(PATH, status_code=200)
async def create_public_link(
    project_id: int, xml_form_id: str, data: PublicLinkCreate, request: Request,
    conn: asyncpg.Connection, actor: Actor | None, settings: Settings,
) -> PublicLinkOut:
    row = await service.create_public_link(
        conn, actor, project_id, xml_form_id, data.display_name, bool(data.once)
    )
    return public_link_out(row, base_url(request, settings), False)


@get(PATH + "/{link_id:int}")
async def get_public_link(
    project_id: int, xml_form_id: str, link_id: int, request: Request,
    conn: asyncpg.Connection, actor: Actor | None, settings: Settings,
) -> PublicLinkOut:
    row = await service.get_public_link(conn, actor, project_id, xml_form_id, link_id)
    return public_link_out(row, base_url(request, settings), extended_metadata(request))


@delete(PATH + "/{link_id:int}", status_code=200)
async def revoke_public_link(
    project_id: int, xml_form_id: str, link_id: int, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    await service.revoke_public_link(conn, actor, project_id, xml_form_id, link_id)
    return {"success": True}

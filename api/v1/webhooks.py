"""Webhooks: POST/GET /v1/projects/{pid}/webhooks, DELETE .../webhooks/{id}, the delivery log
GET .../webhooks/{id}/deliveries and POST .../deliveries/{did}/resend (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import delete, get, post

from api.auth import Actor
from api.services import webhooks as webhook_service
from api.settings import Settings

BASE = "/v1/projects/{project_id:int}/webhooks"


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    events: list[str]
    secret: str
    forms: list[str] | None = None


class WebhookOut(msgspec.Struct, rename="camel"):
    id: int
    project_id: int
    url: str
    events: list[str]
    forms: list[str] | None
    created_by: int
    created_at: datetime


class DeliveryOut(msgspec.Struct, rename="camel"):
    id: int
    event_id: int
    event: str
    subject: str
    occurred_at: datetime
    state: str  # pending | delivered | failed
    attempts: int
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None


def webhook_out(row) -> WebhookOut:
    return WebhookOut(row["id"], row["project_id"], row["url"], list(row["events"]),
                      list(row["forms"]) if row["forms"] is not None else None,
                      row["created_by"], row["created_at"])


def delivery_out(row) -> DeliveryOut:
    return DeliveryOut(
        row["id"], row["event_id"], row["event_kind"], row["subject"], row["event_at"],
        row["state"], row["attempts"], row["last_attempt_at"], row["last_status"],
        row["last_error"], row["delivered_at"],
        row["next_attempt_at"] if row["state"] == "pending" else None,
    )


@post(BASE, status_code=200)
async def create_webhook(project_id: int, data: WebhookCreate, conn: asyncpg.Connection,
                         actor: Actor | None, settings: Settings) -> WebhookOut:
    row = await webhook_service.create_webhook(
        conn, actor, project_id,
        webhook_service.WebhookIn(data.url, data.events, data.secret, data.forms), settings)
    return webhook_out(row)


@get(BASE)
async def list_webhooks(project_id: int, conn: asyncpg.Connection,
                        actor: Actor | None) -> list[WebhookOut]:
    return [webhook_out(r) for r in await webhook_service.list_webhooks(conn, actor, project_id)]


@delete(BASE + "/{webhook_id:int}", status_code=200)
async def delete_webhook(project_id: int, webhook_id: int, conn: asyncpg.Connection,
                         actor: Actor | None) -> dict[str, Any]:
    await webhook_service.delete_webhook(conn, actor, project_id, webhook_id)
    return {"success": True}


@get(BASE + "/{webhook_id:int}/deliveries")
async def list_deliveries(project_id: int, webhook_id: int, conn: asyncpg.Connection,
                          actor: Actor | None, limit: int = 100,
                          offset: int = 0) -> list[DeliveryOut]:
    rows = await webhook_service.deliveries(conn, actor, project_id, webhook_id,
                                            limit=max(1, min(limit, 1000)), offset=max(0, offset))
    return [delivery_out(r) for r in rows]


@post(BASE + "/{webhook_id:int}/deliveries/{delivery_id:int}/resend", status_code=200)
async def resend_delivery(project_id: int, webhook_id: int, delivery_id: int,
                          conn: asyncpg.Connection, actor: Actor | None) -> dict[str, Any]:
    await webhook_service.send_again(conn, actor, project_id, webhook_id, delivery_id)
    return {"success": True}


ROUTES = [create_webhook, list_webhooks, delete_webhook, list_deliveries, resend_delivery]

"""/alerts: the signed-in user's alerts, newest first, in the page's language; marking one or
all of them read (api/services/alerts.py). The link with the unread count is on every page
(base.html)."""

from __future__ import annotations

import asyncpg
from litestar import Response, get, post

from api.pages.web import Page, PageForbidden
from api.services import alerts as alerts_service

PAGE_SIZE = 50


def _user(page: Page):
    actor = page.require_login()
    if actor.type != "user":
        raise PageForbidden()
    return actor


@get("/alerts", include_in_schema=False)
async def alerts_page(page: Page, conn: asyncpg.Connection) -> Response:
    actor = _user(page)
    try:
        number = max(1, int(page.request.query_params.get("page", "1")))
    except ValueError:
        number = 1
    shown = await alerts_service.list_alerts(
        conn, actor, page.i18n, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    return page.render("alerts.html", alerts=shown[:PAGE_SIZE], page_number=number,
                       more=len(shown) > PAGE_SIZE)


@post("/alerts/{alert_id:int}/read", include_in_schema=False)
async def mark_alert_read(page: Page, conn: asyncpg.Connection, alert_id: int) -> Response:
    actor = _user(page)
    await alerts_service.mark_read(conn, actor, alert_id)
    return page.redirect("/alerts")


@post("/alerts/read", include_in_schema=False)
async def mark_all_read(page: Page, conn: asyncpg.Connection) -> Response:
    actor = _user(page)
    await alerts_service.mark_read(conn, actor, None)
    return page.redirect("/alerts")


ROUTES = [alerts_page, mark_alert_read, mark_all_read]

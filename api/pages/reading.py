"""Managers' page of unusual reading (issue 24): heavy readers and exports that held the
questions that identify a person, from the audit log (api/services/reading.py)."""

from __future__ import annotations

import asyncpg
from litestar import Response, get

from api.i18n import N_
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.services import reading as reading_service
from api.settings import Settings
from db import projects as projects_db

add_nav(NavItem("reading", N_("Unusual reading"), "/projects/{project_id}/reading",
                "audit.read", order=90))


def reading_url(project_id: int) -> str:
    return f"/projects/{project_id}/reading"


@get("/projects/{project_id:int}/reading", include_in_schema=False)
async def reading_page(project_id: int, page: Page, conn: asyncpg.Connection,
                       settings: Settings) -> Response:
    actor = page.require("audit.read", project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    asked = page.request.query_params.get("days", "7")
    days = int(asked) if asked.isdigit() and int(asked) in reading_service.WINDOW_DAYS else 7
    reading = await reading_service.unusual_reading(conn, actor, settings, project_id, days)
    return page.render("reading/unusual.html", project=project, reading=reading, days=days,
                       windows=reading_service.WINDOW_DAYS, url=reading_url(project_id))


ROUTES = [reading_page]

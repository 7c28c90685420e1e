"""/projects/{pid}/webhooks: a manager's webhooks (create, delete) and each one's delivery log
with *Send again* (api/services/webhooks.py, the functions REST calls)."""

from __future__ import annotations

import asyncpg
from litestar import Request, Response, get, post

from api.i18n import N_
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.problems import Problem
from api.services import webhooks as webhook_service
from db import forms as forms_db
from db import projects as projects_db

add_nav(NavItem("webhooks", N_("Webhooks"), "/projects/{project_id}/webhooks", "webhook.manage",
                order=45))

BASE = "/projects/{project_id:int}/webhooks"
EVENT_LABELS = {
    "submission.created": N_("A submission arrives"),
    "submission.updated": N_("A submission is edited"),
    "submission.reviewed": N_("A submission is reviewed"),
    "entity.created": N_("An entity (a case) is created"),
    "entity.updated": N_("An entity (a case) is updated"),
    "case.referred": N_("A case is referred"),
    "case.transferred": N_("A case is transferred"),
}
STATE_LABELS = {"pending": N_("waiting"), "delivered": N_("delivered"), "failed": N_("failed")}


async def _project(conn: asyncpg.Connection, page: Page, project_id: int):
    page.require("webhook.manage", project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    return project


async def _render(page: Page, conn: asyncpg.Connection, project, *, status: int = 200,
                  error: str | None = None, given: dict | None = None) -> Response:
    hooks = await webhook_service.list_webhooks(conn, page.actor, project["id"])
    forms = [f for f in await forms_db.list_forms(conn, project["id"]) if f["current_def_id"]]
    return page.render("webhooks/list.html", status=status, project=project, hooks=hooks,
                       forms=forms, events=EVENT_LABELS, error=error, given=given or {},
                       secret=webhook_service.new_secret())


@get(BASE)
async def webhooks_page(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id)
    return await _render(page, conn, project)


@post(BASE)
async def create_webhook_action(project_id: int, page: Page, request: Request,
                                conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id)
    form = await request.form()
    given = {"url": (form.get("url") or "").strip(), "events": list(form.getall("event", [])),
             "forms": list(form.getall("form", [])), "secret": form.get("secret") or ""}
    try:
        await webhook_service.create_webhook(
            conn, page.actor, project_id,
            webhook_service.WebhookIn(given["url"], given["events"], given["secret"],
                                      given["forms"] or None), page.settings)
    except Problem as problem:
        if problem.status == 403:
            raise
        return await _render(page, conn, project, status=400,
                             error=page.problem_message(problem), given=given)
    return page.redirect(f"/projects/{project_id}/webhooks")


@post(BASE + "/{webhook_id:int}/delete")
async def delete_webhook_action(project_id: int, webhook_id: int, page: Page,
                                conn: asyncpg.Connection) -> Response:
    await _project(conn, page, project_id)
    await webhook_service.delete_webhook(conn, page.actor, project_id, webhook_id)
    return page.redirect(f"/projects/{project_id}/webhooks")


@get(BASE + "/{webhook_id:int}")
async def webhook_log_page(project_id: int, webhook_id: int, page: Page,
                           conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id)
    hook = await webhook_service.get_webhook(conn, page.actor, project_id, webhook_id)
    try:
        offset = max(0, int(page.request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    rows = await webhook_service.deliveries(conn, page.actor, project_id, webhook_id,
                                            limit=101, offset=offset)
    return page.render("webhooks/log.html", project=project, hook=hook, deliveries=rows[:100],
                       more=len(rows) > 100, offset=offset, events=EVENT_LABELS,
                       states=STATE_LABELS)


@post(BASE + "/{webhook_id:int}/deliveries/{delivery_id:int}/resend")
async def resend_action(project_id: int, webhook_id: int, delivery_id: int, page: Page,
                        conn: asyncpg.Connection) -> Response:
    await _project(conn, page, project_id)
    await webhook_service.send_again(conn, page.actor, project_id, webhook_id, delivery_id)
    return page.redirect(f"/projects/{project_id}/webhooks/{webhook_id}")


ROUTES = [webhooks_page, create_webhook_action, delete_webhook_action, webhook_log_page,
          resend_action]

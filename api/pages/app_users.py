"""App users (phones) in the browser, for coordinators (app_user.manage):

- /projects/{pid}/app-users: the project's app users with their forms and centres; create one
  (name, forms, centre), assign or unassign a form, tie it to a centre, revoke.
- /projects/{pid}/app-users/{id}/qr: the QR code that configures ODK Collect, on a page made
  to be printed (the printed sheet has the code, the name, the project and the steps).

Everything goes through api/services/app_users.py (the functions REST uses).
"""

from __future__ import annotations

import base64

import asyncpg
from litestar import Request, Response, get, post

from api.http import base_url, only_this_machine
from api.i18n import N_
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.problems import Problem
from api.scopes import CENTRE_NAME
from api.services import app_users as app_user_service
from api.settings import Settings
from db import forms as forms_db
from db import projects as projects_db

add_nav(NavItem("app-users", N_("App users"), "/projects/{project_id}/app-users",
                "app_user.manage", order=40))


async def _project(conn: asyncpg.Connection, page: Page, project_id: int):
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    return project


async def _list_context(conn: asyncpg.Connection, page: Page, project_id: int) -> dict:
    rows = await app_user_service.list_app_users(conn, page.actor, project_id)
    forms = [f for f in await forms_db.list_forms(conn, project_id) if f["current_def_id"]]
    titles = {f["id"]: f["title"] or f["xml_form_id"] for f in forms}
    users = [  # revoked ones are listed greyed, after the others (as Central shows them)
        {"id": r["id"], "name": r["display_name"], "created_at": r["created_at"],
         "revoked_at": r["revoked_at"], "form_ids": set(r["form_ids"]), "centre": r["centre"],
         "forms": [titles[i] for i in r["form_ids"] if i in titles]}
        for r in rows
    ]
    users.sort(key=lambda u: (u["revoked_at"] is not None, u["name"].lower()))
    return {"users": users, "forms": forms}


@get("/projects/{project_id:int}/app-users")
async def app_users_page(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    page.require("app_user.manage", project_id)
    project = await _project(conn, page, project_id)
    return page.render("app_users/list.html", project=project, error=None, name="", centre="",
                       **await _list_context(conn, page, project_id))


@post("/projects/{project_id:int}/app-users")
async def create_app_user_action(
    project_id: int, page: Page, request: Request, conn: asyncpg.Connection,
) -> Response:
    actor = page.require("app_user.manage", project_id)
    project = await _project(conn, page, project_id)
    form = await request.form()
    name = (form.get("displayName") or "").strip()
    centre = (form.get("centre") or "").strip()
    chosen = tuple(form.getall("form", []))
    try:
        row = await app_user_service.create_app_user(conn, actor, project_id, name, chosen,
                                                     centre or None)
    except Problem as problem:
        if problem.status == 403:
            raise
        error = {
            "form-not-found": page._("One of the chosen forms does not exist any more."),
        }.get(problem.slug)
        if error is None and centre and not CENTRE_NAME.match(centre):
            error = page._("A centre is the choice name the intake form stores, such as "
                           "khujand.")
        if error is None:
            error = page._("Give the app user a name of at most %(n)s characters.",
                           n=app_user_service.MAX_NAME_LENGTH)
        return page.render("app_users/list.html", status=400, project=project, error=error,
                           name=name, centre=centre,
                           **await _list_context(conn, page, project_id))
    return page.redirect(f"/projects/{project_id}/app-users/{row['id']}/qr?new=1")


@post("/projects/{project_id:int}/app-users/{actor_id:int}/forms")
async def app_user_forms_action(
    project_id: int, actor_id: int, page: Page, request: Request, conn: asyncpg.Connection,
) -> Response:
    """Assign or unassign one form (a checkbox list posts each change with htmx, or the whole
    list with a plain submit): `form` values are the forms the app user should have."""
    actor = page.require("app_user.manage", project_id)
    await _project(conn, page, project_id)
    data = await request.form()
    wanted = set(data.getall("form", []))
    try:
        user = await app_user_service.live_app_user(conn, actor, project_id, actor_id)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound(page._("There is no such app user.")) from problem
        raise
    forms = [f for f in await forms_db.list_forms(conn, project_id) if f["current_def_id"]]
    have = set(user["form_ids"])
    for f in forms:
        if f["xml_form_id"] in wanted and f["id"] not in have:
            await app_user_service.assign_form(conn, actor, project_id, f["xml_form_id"], actor_id)
        elif f["xml_form_id"] not in wanted and f["id"] in have:
            await app_user_service.unassign_form(conn, actor, project_id, f["xml_form_id"],
                                                 actor_id)
    if request.headers.get("hx-request") == "true":
        return page.render("app_users/_saved.html", message=page._("Saved."))
    return page.redirect(f"/projects/{project_id}/app-users#app-user-{actor_id}")


@post("/projects/{project_id:int}/app-users/{actor_id:int}/centre")
async def app_user_centre_action(
    project_id: int, actor_id: int, page: Page, request: Request, conn: asyncpg.Connection,
) -> Response:
    """Tie the app user to a support centre (its phone gets that centre's cases only), or
    untie it (an empty centre)."""
    actor = page.require("app_user.manage", project_id)
    project = await _project(conn, page, project_id)
    centre = ((await request.form()).get("centre") or "").strip()
    try:
        await app_user_service.set_centre(conn, actor, project_id, actor_id, centre or None)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound(page._("There is no such app user.")) from problem
        if problem.status == 403:
            raise
        return page.render("app_users/list.html", status=400, project=project, name="",
                           centre="", error=page._("A centre is the choice name the intake "
                                                   "form stores, such as khujand."),
                           **await _list_context(conn, page, project_id))
    return page.redirect(f"/projects/{project_id}/app-users#app-user-{actor_id}")


@post("/projects/{project_id:int}/app-users/{actor_id:int}/revoke")
async def revoke_action(
    project_id: int, actor_id: int, page: Page, conn: asyncpg.Connection,
) -> Response:
    actor = page.require("app_user.manage", project_id)
    await _project(conn, page, project_id)
    try:
        await app_user_service.revoke_access(conn, actor, project_id, actor_id)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound(page._("There is no such app user.")) from problem
        raise
    return page.redirect(f"/projects/{project_id}/app-users")


async def _qr(page: Page, request: Request, conn: asyncpg.Connection, settings: Settings,
              project_id: int, actor_id: int, scale: int):
    actor = page.require("app_user.manage", project_id)
    try:
        return await app_user_service.app_user_qr(
            conn, actor, project_id, actor_id, base_url(request, settings), scale=scale)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound(page._("There is no such app user, or it was revoked.")) \
                from problem
        raise


@get("/projects/{project_id:int}/app-users/{actor_id:int}/qr")
async def qr_page(
    project_id: int, actor_id: int, page: Page, request: Request, conn: asyncpg.Connection,
    settings: Settings,
) -> Response:
    png, server, user = await _qr(page, request, conn, settings, project_id, actor_id, 8)
    project = await _project(conn, page, project_id)
    titles = {f["id"]: f["title"] or f["xml_form_id"]
              for f in await forms_db.list_forms(conn, project_id)}
    return page.render(
        "app_users/qr.html", project=project, user=user, server=server,
        qr="data:image/png;base64," + base64.b64encode(png).decode(),
        forms=[titles[i] for i in user["form_ids"] if i in titles],
        new=request.query_params.get("new") == "1", local=only_this_machine(server),
    )


@get("/projects/{project_id:int}/app-users/{actor_id:int}/qr.png")
async def qr_image(
    project_id: int, actor_id: int, page: Page, request: Request, conn: asyncpg.Connection,
    settings: Settings,
) -> Response:
    """The QR code alone (the coordinator view shows one per app user, loaded lazily)."""
    png, _, _ = await _qr(page, request, conn, settings, project_id, actor_id, 4)
    return Response(png, media_type="image/png", headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


ROUTES = [qr_image, app_users_page, create_app_user_action, app_user_forms_action,
          app_user_centre_action, revoke_action, qr_page]

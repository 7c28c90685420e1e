"""The scope settings page (issue 24), for administrators: /admin/users/{id}/scopes/{pid}
limits what a user's roles read in a project to regions, support centres and submitters (app
users), or gives the whole project back. Everything goes through api/services/scopes.py (the
functions REST and the CLI use); api/scopes.py decides the reads."""

from __future__ import annotations

import asyncpg
from litestar import Request, Response, get, post

from api.pages.web import Page, PageNotFound
from api.problems import Problem
from api.services import scopes as scopes_service
from db import projects as projects_db
from db import scopes as scopes_db
from db import users as users_db
from forms.vocabulary import CENTRE_LABELS, REGION_LABELS

ADMIN = "user.manage"  # administrators only (as api/pages/admin.py)
PATH = "/admin/users/{user_id:int}/scopes/{project_id:int}"


async def _render(page: Page, conn: asyncpg.Connection, user_id: int, project_id: int, *,
                  status: int = 200, error: str | None = None, notice: str | None = None,
                  chosen: scopes_service.ScopeView | None = None) -> Response:
    user = await users_db.get_user(conn, user_id)
    project = await projects_db.get_project(conn, project_id)
    if user is None or project is None:
        raise PageNotFound()
    view = chosen or await scopes_service.scope_view(conn, user_id, project_id)
    codes = sorted({*CENTRE_LABELS, *await scopes_db.project_centres(conn, project_id),
                    *view.centres})
    centres = [(c, page._(CENTRE_LABELS[c]) if c in CENTRE_LABELS else c) for c in codes]
    submitters = dict(await scopes_db.project_submitters(conn, project_id))
    submitters.update(dict(view.submitters))
    return page.render(
        "admin/scope.html", status=status, user=user, project=project, view=view,
        error=error, notice=notice,
        regions=[(code, page._(label)) for code, label in REGION_LABELS.items()],
        centres=centres, submitters=sorted(submitters.items(), key=lambda s: s[1].lower()),
    )


@get(PATH, include_in_schema=False)
async def scope_page(user_id: int, project_id: int, page: Page,
                     conn: asyncpg.Connection) -> Response:
    page.require(ADMIN)
    return await _render(page, conn, user_id, project_id)


@post(PATH, include_in_schema=False)
async def scope_save(user_id: int, project_id: int, page: Page, request: Request,
                     conn: asyncpg.Connection) -> Response:
    actor = page.require(ADMIN)
    data = await request.form()

    def many(name: str) -> list[str]:
        return [v.strip() for v in data.getall(name, []) if isinstance(v, str) and v.strip()]

    clear = "clear" in data
    regions, centres = ([], []) if clear else (many("region"), many("centre"))
    submitter_ids = [] if clear else [int(v) for v in many("submitter") if v.isdigit()]
    try:
        await scopes_service.set_user_scope(conn, actor, project_id, user_id, regions=regions,
                                            centres=centres, submitter_ids=submitter_ids)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound() from problem
        chosen = scopes_service.ScopeView(tuple(regions), tuple(centres), ())
        return await _render(page, conn, user_id, project_id, status=400,
                             error=page.problem_message(problem), chosen=chosen)
    return await _render(page, conn, user_id, project_id, notice=page._("The scope was saved."))


ROUTES = [scope_page, scope_save]

"""The dashboard: server-rendered pages for people (a phone is enough), logged in with a
session cookie.

- /login, /logout
- /dashboard: the projects the user has a role in, with the views they may open
- /dashboard/projects/{pid}/summaries: the ministry view (needs summary.read): risk levels by
  region, risk groups, control forms, exploitation types, the trend by quarter; filters; the
  workbook (/dashboard/projects/{pid}/risk.xlsx). Disclosure control is always on here.
- /dashboard/projects/{pid}/coordinator: the coordinator view (needs submission.read, i.e.
  microdata): submissions per day per form, the latest screenings needing review, and (with
  app_user.manage) the app users with their QR codes.

The cookie is HttpOnly and SameSite=Strict (a cross-site form cannot carry it, so the two
POSTs need no other CSRF token); its value is an ordinary session token (table sessions).
Charts: Chart.js from npm (api/pages/package.json, `npm ci`), served by the app.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.app_users import collect_server_url, collect_settings_payload, qr_png
from api.auth import Actor, actor_from_password, actor_from_session, new_token, token_hash
from api.openrosa import base_url
from api.problems import Problem
from api.settings import Settings
from api.v1.summaries import (
    DASHBOARD_TABLES,
    XLSX_MEDIA,
    SummaryResult,
    build_summary,
    parse_summary_query,
    workbook_bytes,
    workbook_tables,
)
from db import audits
from db import projects as projects_db
from db import summaries as summaries_db
from db import users as users_db
from db.summaries import BY_NAME, UNKNOWN

HERE = Path(__file__).resolve().parent
COOKIE = "fieldsurvey_session"
CHART_JS = HERE / "node_modules" / "chart.js" / "dist"
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
FILTER_NAMES = ("region", "sex", "age_band", "site_type")
LABELS = {
    "TJ-DU": "Dushanbe",
    "TJ-SU": "Sughd",
    "TJ-KT": "Khatlon",
    "TJ-GB": "Gorno-Badakhshan",
    "TJ-RA": "Districts of Republican Subordination",
    UNKNOWN: "unknown",
}


def render(name: str, status: int = 200, **context: Any) -> Response:
    html = _templates.get_template(name).render(**context)
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


async def page_actor(request: Request, conn: asyncpg.Connection) -> Actor | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await actor_from_session(conn, token)


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def forbidden(actor: Actor, what: str) -> Response:
    return render("forbidden.html", status=403, actor=actor, what=what)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target
    return "/dashboard"


# --- login / logout --------------------------------------------------------------------------


@get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    return render("login.html", next=_safe_next(request.query_params.get("next")), error=None)


@post("/login", include_in_schema=False)
async def login_submit(
    conn: asyncpg.Connection,
    settings: Settings,
    data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
) -> Response:
    target = _safe_next(data.get("next"))
    actor = await actor_from_password(conn, data.get("email", ""), data.get("password", ""))
    if actor is None:
        return render("login.html", status=401, next=target, error="The email address or password is wrong.")
    token = new_token()
    expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
    await users_db.create_session(conn, token_hash(token), actor.id, expires)
    response = Redirect(target, status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/", expires=int(expires.timestamp()),
        secure=bool(settings.public_url and settings.public_url.startswith("https://")),
    )
    return response


@post("/logout", include_in_schema=False)
async def logout(request: Request, conn: asyncpg.Connection) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await users_db.delete_session(conn, token_hash(token))
    response = Redirect("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# --- projects ----------------------------------------------------------------------------------


@get("/dashboard", include_in_schema=False)
async def dashboard_home(request: Request, conn: asyncpg.Connection) -> Response:
    actor = await page_actor(request, conn)
    if actor is None:
        return to_login(request)
    rows = await projects_db.list_projects(conn, None if actor.is_admin else actor.id)
    projects = [
        {
            "id": row["id"],
            "name": row["name"],
            "summaries": actor.can("summary.read", row["id"]),
            "coordinator": actor.can("submission.read", row["id"]),
        }
        for row in rows
    ]
    return render("home.html", actor=actor, projects=projects)


async def _project(conn, actor: Actor, project_id: int, permission: str):
    if not actor.can(permission, project_id):
        return None
    return await projects_db.get_project(conn, project_id)


# --- the ministry view ------------------------------------------------------------------------


def _label(value) -> str:
    return LABELS.get(value, str(value))


def table_view(title: str, result: SummaryResult, chart: str) -> dict:
    """What a template and the chart script need of a protected table."""
    by = list(result.request.by)
    view: dict[str, Any] = {"title": title, "by": by, "chart": chart, "period": result.request.period}
    if len(by) == 1:
        table = result.slices[0].table
        rows = [{"label": _label(key[0]), "count": n} for key, n in table.cells.items()]
        if result.request.period:  # a trend: one row per period, one column per value
            columns = [_label(key[0]) for key in table.cells]
            view["columns"] = columns
            view["rows"] = [
                {
                    "label": part.period or "date unknown",
                    "counts": [n for n in part.table.cells.values()],
                    "total": part.table.total,
                }
                for part in result.slices
            ]
            view["series"] = {"labels": [r["label"] for r in view["rows"]], "names": columns,
                              "values": [[r["counts"][i] for r in view["rows"]] for i in range(len(columns))]}
        else:
            view["rows"] = rows
            view["total"] = table.total
            view["series"] = {"labels": [r["label"] for r in rows], "names": ["persons"],
                              "values": [[r["count"] for r in rows]]}
    else:
        table = result.slices[0].table
        row_values, col_values = list(table.margins[0]), list(table.margins[1])
        view["columns"] = [_label(c) for c in col_values]
        view["rows"] = [
            {
                "label": _label(r),
                "counts": [table.cells[(r, c)] for c in col_values],
                "total": table.margins[0][r],
            }
            for r in row_values
        ]
        view["column_totals"] = [table.margins[1][c] for c in col_values]
        view["total"] = table.total
        view["series"] = {"labels": [r["label"] for r in view["rows"]], "names": view["columns"],
                          "values": [[row["counts"][i] for row in view["rows"]] for i in range(len(col_values))]}
    view["suppressed"] = any(part.table.suppressed for part in result.slices)
    return view


CHARTS = {"Risk level by region": "stacked", "Risk level by quarter": "line"}


@get("/dashboard/projects/{project_id:int}/summaries", include_in_schema=False)
async def ministry_view(
    project_id: int, request: Request, conn: asyncpg.Connection, settings: Settings
) -> Response:
    actor = await page_actor(request, conn)
    if actor is None:
        return to_login(request)
    project = await _project(conn, actor, project_id, "summary.read")
    if project is None:
        return forbidden(actor, "the summaries of this project")
    params = {k: v for k, v in request.query_params.items() if v}
    try:
        query, _ = parse_summary_query({k: v for k, v in params.items() if k != "disclosure"})
    except Problem as problem:
        query, _ = parse_summary_query({})
        params = {}
        error = problem.detail
    else:
        error = None
    query = query.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    tables = []
    for title, by, period in DASHBOARD_TABLES:
        result = await build_summary(conn, replace(query, by=by, period=period), settings.disclosure_k)
        tables.append(table_view(title, result, CHARTS.get(title, "bar")))
    versions = await summaries_db.rubric_versions(conn, query.count_query())
    filters = [
        {"name": name, "label": name.replace("_", " "), "selected": params.get(name, ""),
         "options": [(v, _label(v)) for v in BY_NAME[name].known]}
        for name in FILTER_NAMES
    ]
    download = f"/dashboard/projects/{project_id}/risk.xlsx" + (f"?{urlencode(params)}" if params else "")
    return render(
        "summaries.html", actor=actor, project=project, tables=tables, k=settings.disclosure_k,
        filters=filters, params=params, download=download, versions=versions, error=error,
        coordinator=actor.can("submission.read", project_id),
    )


@get("/dashboard/projects/{project_id:int}/risk.xlsx", include_in_schema=False)
async def ministry_workbook(
    project_id: int, request: Request, conn: asyncpg.Connection, settings: Settings
) -> Response:
    actor = await page_actor(request, conn)
    if actor is None:
        return to_login(request)
    project = await _project(conn, actor, project_id, "summary.read")
    if project is None:
        return forbidden(actor, "the summaries of this project")
    params = {k: v for k, v in request.query_params.items() if v and k != "disclosure"}
    query, _ = parse_summary_query(params)
    query = query.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    tables = await workbook_tables(conn, query, settings.disclosure_k, requested_by=bool(params.get("by")))
    return Response(
        workbook_bytes(project["name"], tables),
        media_type=XLSX_MEDIA,
        headers={"Content-Disposition": 'attachment; filename="risk.xlsx"'},
    )


# --- the coordinator view ---------------------------------------------------------------------


@get("/dashboard/projects/{project_id:int}/coordinator", include_in_schema=False)
async def coordinator_view(
    project_id: int, request: Request, conn: asyncpg.Connection, settings: Settings
) -> Response:
    actor = await page_actor(request, conn)
    if actor is None:
        return to_login(request)
    project = await _project(conn, actor, project_id, "submission.read")
    if project is None:
        return forbidden(actor, "the submissions of this project")
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(14)]  # newest first: a phone shows it
    since = datetime.combine(days[-1], datetime.min.time(), tzinfo=UTC)
    per_day = await summaries_db.submissions_per_day(conn, project_id, since)
    forms = [
        {
            "xml_form_id": row["xml_form_id"],
            "title": row["title"] or row["xml_form_id"],
            "total": row["total"],
            "days": [per_day.get((row["xml_form_id"], day), 0) for day in days],
        }
        for row in await summaries_db.project_forms(conn, project_id)
    ]
    review = await summaries_db.screenings_needing_review(conn, project_id)
    await audits.log_audit(
        conn, actor.id, "submission.list", f"project/{project_id}/dashboard",
        {"view": "coordinator", "rows": len(review)},
    )
    app_users = []
    if actor.can("app_user.manage", project_id):
        for row in await users_db.list_field_keys(conn, project_id):
            if row["revoked_at"] is not None:
                continue
            server = collect_server_url(base_url(request, settings), row["token"], project_id)
            png = qr_png(collect_settings_payload(server, project["name"]), scale=4)
            app_users.append({"id": row["id"], "name": row["display_name"],
                              "qr": "data:image/png;base64," + base64.b64encode(png).decode()})
    return render(
        "coordinator.html", actor=actor, project=project, forms=forms,
        days=[d.strftime("%d %b") for d in days], review=review, app_users=app_users,
        summaries=actor.can("summary.read", project_id),
    )


def page_routes() -> list:
    """The dashboard's handlers and its static files (the chart library among them)."""
    static = [create_static_files_router(path="/static/dashboard", directories=[HERE / "static"],
                                         include_in_schema=False)]
    if CHART_JS.is_dir():
        static.append(create_static_files_router(path="/static/vendor/chartjs", directories=[CHART_JS],
                                                 include_in_schema=False))
    return [
        login_page, login_submit, logout, dashboard_home, ministry_view, ministry_workbook,
        coordinator_view, *static,
    ]

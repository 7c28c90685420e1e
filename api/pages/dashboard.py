"""The dashboard: the projects page, the ministry view and the coordinator view.

- /dashboard: the projects the user has a role in, with the views they may open
- /dashboard/projects/{pid}/summaries: the ministry view (needs summary.read): risk levels by
  region, risk groups, control forms, exploitation types, the trend by quarter; filters; the
  workbook (/dashboard/projects/{pid}/risk.xlsx). Disclosure control is always on here.
- /dashboard/projects/{pid}/coordinator: the coordinator view (needs submission.read, i.e.
  microdata): submissions per day per form, the latest screenings needing review, and (with
  app_user.manage) the app users with their QR codes.

Charts: Chart.js from npm (api/pages/package.json, `npm ci`), served by the app.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
from litestar import Request, Response, get

from api.form_cache import version_schema
from api.http import content_disposition
from api.i18n import N_, I18n, problem_text
from api.pages.labels import CONTROL_FORMS, EXPLOITATION_TYPES, RISK_GROUPS
from api.pages.submissions import place_labels, submission_url, table_url
from api.pages.web import (
    RISK_LEVELS,
    NavItem,
    Page,
    PageNotFound,
    add_nav,
    file_name,
    navigation,
)
from api.problems import Problem
from api.services import coordinator as coordinator_service
from api.services.publications import latest_publication
from api.services.summaries import (
    DASHBOARD_TABLES,
    XLSX_MEDIA,
    SummaryResult,
    build_summary,
    fitted,
    parse_summary_query,
    workbook_bytes,
    workbook_tables,
)
from api.settings import Settings
from db import forms as forms_db
from db import projects as projects_db
from db import summaries as summaries_db
from db.summaries import BY_NAME, UNKNOWN
from exports.disclosure import MAX_ADJUSTMENT
from exports.summary_xlsx import Words
from forms.vocabulary import REGION_LABELS

FILTER_NAMES = ("region", "sex", "age_band", "site_type")
FILTER_LABELS = {
    "region": N_("Region"),
    "sex": N_("Sex"),
    "age_band": N_("Age band"),
    "site_type": N_("Site type"),
}
LABELS = {**REGION_LABELS, UNKNOWN: N_("unknown")}
# The summaries' dimensions, as the workbook's headings name them.
DIMENSION_NAMES = {
    **FILTER_LABELS,
    "district": N_("District"),
    "risk_level": N_("Risk level"),
    "risk_group": N_("Risk group"),
    "control_form": N_("Control form"),
    "exploitation_type": N_("Exploitation type"),
}
TABLE_TITLES = {
    "Risk level by region": N_("Risk level by region"),
    "Risk groups": N_("Risk groups"),
    "Control forms": N_("Control forms"),
    "Exploitation types": N_("Exploitation types"),
    "Risk level by quarter": N_("Risk level by quarter"),
}

add_nav(NavItem("summaries", N_("Risk summaries"), "/dashboard/projects/{project_id}/summaries",
                "summary.read", order=10))
add_nav(NavItem("coordinator", N_("Coordinator"), "/dashboard/projects/{project_id}/coordinator",
                "submission.read", order=20))


# --- projects ----------------------------------------------------------------------------------


@get("/dashboard", include_in_schema=False)
async def dashboard_home(page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require_login()
    rows = await projects_db.list_projects(conn, None if actor.is_admin else actor.id)
    projects = [
        {
            "id": row["id"],
            "name": row["name"],
            "summaries": actor.can("summary.read", row["id"]),
            "coordinator": actor.can("submission.read", row["id"]),
            # each role's own tasks: the project's links its roles allow (api/auth.py decides)
            "tasks": navigation(actor, row["id"], page.i18n)["project"],
        }
        for row in rows
    ]
    return page.render("home.html", projects=projects)


async def _project(conn, page: Page, project_id: int, permission: str):
    """The project of a page, once api/auth.py allows `permission` in it (else 403/404)."""
    page.require(permission, project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound()
    return project


# --- the ministry view ------------------------------------------------------------------------


async def form_labels(conn, project_id: int, locale: str) -> dict[str, str]:
    """Choice labels of the project's risk_screening form in `locale` (regions, districts,
    sex, age bands...): the form's own translations, as the enumerators saw them."""
    from exports.layout import label_in

    form = await forms_db.get_form(conn, project_id, "risk_screening")
    if form is None or form["current_def_id"] is None:
        return {}
    schema = await version_schema(conn, form["current_def_id"])
    language = next((lang for lang in schema.languages if lang.endswith(f"({locale})")), None)
    names: dict[str, str] = {}
    for f in schema.walk():
        for choice in f.choices:
            text = label_in(choice.labels, language, schema.default_language)
            if text:
                names.setdefault(choice.name, text)
    return names


# The rubric's codes (risk levels, risk groups, control forms, exploitation types) by name.
RUBRIC_NAMES = {**RISK_LEVELS, **RISK_GROUPS, **CONTROL_FORMS, **EXPLOITATION_TYPES}


def value_name(i18n: I18n, names: dict[str, str], value) -> str:
    """A summary value's name: the rubric's, else the form's own label (regions, districts,
    sex...), else the catalogue's, else the code."""
    if value in RUBRIC_NAMES:
        return i18n.gettext(RUBRIC_NAMES[value])
    if value in names:
        return names[value]
    return i18n.gettext(LABELS[value]) if value in LABELS else str(value)


def workbook_words(i18n: I18n, names: dict[str, str]) -> Words:
    """The ministry workbook in the page's language (exports/summary_xlsx.py)."""
    return Words(translate=i18n.gettext,
                 dim_names={k: i18n.gettext(v) for k, v in DIMENSION_NAMES.items()},
                 value_label=lambda value: value_name(i18n, names, value))


def partial_period(label: str | None, through_month: int | None) -> bool:
    """Whether a period ('2026-Q4', '2026') ends after the month the data runs through, so that
    its count is of part of it only (a quarter holding only October so far)."""
    if not label or through_month is None:
        return False
    year, _, part = label.partition("-")
    if not part:
        last = int(year) * 100 + 12
    elif part.startswith("Q"):
        last = int(year) * 100 + 3 * int(part[1:])
    else:
        last = int(year) * 100 + int(part)
    return last > through_month


def table_view(i18n: I18n, title: str, result: SummaryResult, chart: str,
               names: dict[str, str] | None = None, through_month: int | None = None) -> dict:
    """What a template and the chart script need of a protected table. Periods are named as
    the locale writes them, and one that ends after `through_month` is marked partial; `keys`
    are the codes of the series (the chart colours risk levels by them)."""
    _ = i18n.gettext
    names = names or {}

    def label(value) -> str:
        return value_name(i18n, names, value)

    by = list(result.request.by)
    view: dict[str, Any] = {"title": _(TABLE_TITLES.get(title, title)), "by": by, "chart": chart,
                            "period": result.request.period}
    if len(by) == 1 and result.request.period and not result.slices:  # a trend of no data yet
        view.update(columns=[], rows=[], total=0, series={"labels": [], "names": [], "values": []})
    elif len(by) == 1:
        table = result.slices[0].table
        rows = [{"label": label(key[0]), "count": n} for key, n in table.cells.items()]
        if result.request.period:  # a trend: one row per period, one column per value
            columns = [label(key[0]) for key in table.cells]
            view["columns"] = columns
            view["rows"] = [
                {
                    "label": i18n.period(part.period) or _("date unknown"),
                    "partial": partial_period(part.period, through_month),
                    "counts": [n for n in part.table.cells.values()],
                    "total": part.table.total,
                }
                for part in result.slices
            ]
            view["series"] = {"labels": [r["label"] for r in view["rows"]], "names": columns,
                              "keys": [str(key[0]) for key in table.cells],
                              "partial": [r["partial"] for r in view["rows"]],
                              "values": [[r["counts"][i] for r in view["rows"]] for i in range(len(columns))]}
            view["partial"] = any(r["partial"] for r in view["rows"])
        else:
            view["rows"] = rows
            view["total"] = table.total
            view["series"] = {"labels": [r["label"] for r in rows], "names": [_("persons")],
                              "values": [[r["count"] for r in rows]]}
    else:
        table = result.slices[0].table
        row_values, col_values = list(table.margins[0]), list(table.margins[1])
        view["columns"] = [label(c) for c in col_values]
        view["rows"] = [
            {
                "label": label(r),
                "counts": [table.cells[(r, c)] for c in col_values],
                "total": table.margins[0][r],
            }
            for r in row_values
        ]
        view["column_totals"] = [table.margins[1][c] for c in col_values]
        view["total"] = table.total
        view["series"] = {"labels": [r["label"] for r in view["rows"]], "names": view["columns"],
                          "keys": [str(c) for c in col_values],
                          "values": [[row["counts"][i] for row in view["rows"]] for i in range(len(col_values))]}
    view["suppressed"] = any(part.table.suppressed for part in result.slices)
    return view


CHARTS = {"Risk level by region": "stacked", "Risk level by quarter": "line"}


@get("/dashboard/projects/{project_id:int}/summaries", include_in_schema=False)
async def ministry_view(
    project_id: int, page: Page, conn: asyncpg.Connection, settings: Settings
) -> Response:
    project = await _project(conn, page, project_id, "summary.read")
    _ = page.i18n.gettext
    params = {k: v for k, v in page.request.query_params.items() if v}
    try:
        query, _unused = parse_summary_query(
            {k: v for k, v in params.items() if k != "disclosure"}, restricted=True
        )
    except Problem as problem:
        query, _unused = parse_summary_query({}, restricted=True)
        params = {}
        error = problem_text(problem, page.i18n)
    else:
        error = None
    query = query.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    # always the publication, with disclosure control: this is the ministry's view
    publication = await latest_publication(conn, project_id, settings)
    names = await form_labels(conn, project_id, page.i18n.locale)
    tables = []
    for title, by, period in DASHBOARD_TABLES:
        table_request = fitted(replace(query, by=by, period=period))
        unavailable = {"title": _(TABLE_TITLES.get(title, title)), "unavailable": True, "by": list(by),
                       "period": period}
        if table_request is None:  # a filter on a 2-D table would make three dimensions
            tables.append(unavailable)
            continue
        try:
            result = await build_summary(conn, table_request, settings.disclosure_k, publication)
        except Problem as problem:  # e.g. a guarded district chosen as a filter
            error = problem_text(problem, page.i18n)
            tables.append(unavailable)
            continue
        tables.append(table_view(page.i18n, title, result, CHARTS.get(title, "bar"), names,
                                 publication.through_month))
    versions = list(publication.rubric_versions)
    filters = [
        {"name": name, "label": _(FILTER_LABELS[name]), "selected": params.get(name, ""),
         "options": [(v, names.get(v) or (_(LABELS[v]) if v in LABELS else v)) for v in BY_NAME[name].known]}
        for name in FILTER_NAMES
    ]
    download = f"/dashboard/projects/{project_id}/risk.xlsx" + (f"?{urlencode(params)}" if params else "")
    return page.render(
        "summaries.html", project=project, tables=tables, k=settings.disclosure_k,
        filters=filters, params=params, download=download, versions=versions, error=error,
        publication=publication, max_adjustment=MAX_ADJUSTMENT,
    )


@get("/dashboard/projects/{project_id:int}/risk.xlsx", include_in_schema=False)
async def ministry_workbook(
    project_id: int, page: Page, conn: asyncpg.Connection, settings: Settings
) -> Response:
    project = await _project(conn, page, project_id, "summary.read")
    params = {k: v for k, v in page.request.query_params.items() if v and k != "disclosure"}
    query, _unused = parse_summary_query(params, restricted=True)
    query = query.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    publication = await latest_publication(conn, project_id, settings)
    tables = await workbook_tables(
        conn, query, settings.disclosure_k, requested_by=bool(params.get("by")), publication=publication
    )
    names = await form_labels(conn, project_id, page.i18n.locale)
    return Response(
        workbook_bytes(project["name"], tables, words=workbook_words(page.i18n, names)),
        media_type=XLSX_MEDIA,
        headers={"Content-Disposition": content_disposition(file_name(page.i18n, "risk.xlsx", project["name"]))},
    )


# --- the coordinator view ---------------------------------------------------------------------


@get("/dashboard/projects/{project_id:int}/coordinator", include_in_schema=False)
async def coordinator_view(
    project_id: int, page: Page, request: Request, conn: asyncpg.Connection, settings: Settings
) -> Response:
    project = await _project(conn, page, project_id, "submission.read")
    zone = page.i18n.time_zone  # days are the user's days (Asia/Dushanbe unless chosen)
    today = datetime.now(zone).date()
    days = [today - timedelta(days=i) for i in range(14)]  # newest first: a phone shows it
    view = await coordinator_service.coordinator_view(conn, page.actor, project_id, days, zone)
    forms = [
        {
            "xml_form_id": form.xml_form_id,
            "title": form.title,
            "total": form.total,
            "table": table_url(project_id, form.xml_form_id),
            "days": [
                (count, table_url(project_id, form.xml_form_id,
                                  **{"from": day.isoformat(), "to": day.isoformat()}))
                for count, day in zip(form.per_day, days, strict=True)
            ],
        }
        for form in view.forms
    ]
    review = view.review
    places: dict[str, str] = {}
    for xml_form_id in {r["xml_form_id"] for r in review}:
        form = await forms_db.get_form(conn, project_id, xml_form_id)
        places.update(await place_labels(conn, form, page.i18n.locale) if form else {})
    app_users = [
        {"id": row["id"], "name": row["display_name"],
         "qr": f"/projects/{project_id}/app-users/{row['id']}/qr.png",
         "page": f"/projects/{project_id}/app-users/{row['id']}/qr"}
        for row in view.app_users
    ]
    return page.render(
        "coordinator.html", project=project, forms=forms,
        days=[page.i18n.skeleton(d, "MMMd") for d in days], review=review, app_users=app_users,
        submission_url=lambda form, instance: submission_url(project_id, form, instance),
        urgent_url=lambda form: table_url(project_id, form, urgent="yes"), places=places,
    )


ROUTES = [dashboard_home, ministry_view, ministry_workbook, coordinator_view]

"""Researcher pages: a project's data (forms with their export and report), the export
options (XLSX and CSV zip with the API's options), the per-question survey report with charts
and its workbook, and how to connect pyodk, R (ruODK), Excel or Power BI (OData).

Downloads and reports are the same use cases as REST's (api/services/exports.py), called with
the page's actor: the same permission checks, options, audit log and streaming; only the file
name changes, to the user's language.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from litestar import Response, get
from litestar.response import Stream

from api.form_cache import version_schema
from api.http import base_url, content_disposition, only_this_machine
from api.i18n import N_, I18n
from api.pages.web import NavItem, Page, PageNotFound, add_nav, file_name
from api.problems import Problem
from api.scopes import row_scope
from api.services import exports as exports_service
from api.services.exports import XLSX_MEDIA_TYPE, ExportRequest, ReportOptions
from api.services.sensitive import masked_paths
from api.settings import Settings
from db import forms as forms_db
from db import projects as projects_db
from db import summaries as summaries_db
from exports.layout import label_in
from exports.reports import REPORT_STATS, REPORT_WORDS, report_xlsx
from forms.vocabulary import PERIOD_LABELS, REVIEW_STATES

add_nav(NavItem("data", N_("Data and exports"), "/projects/{project_id}/data", "export", order=40))
add_nav(NavItem("connect", N_("Connect"), "/projects/{project_id}/connect", "export", order=45))



async def _project(conn, page: Page, project_id: int, permission: str):
    page.require(permission, project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound()
    return project


async def _form(conn, project_id: int, xml_form_id: str):
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    if form is None or form["current_def_id"] is None:
        raise PageNotFound()
    schema = await version_schema(conn, form["current_def_id"])
    return form, schema


def _form_language(schema, locale: str) -> str | None:
    """The form's own language for the user's locale ('Russian (ru)' for ru), if it has one."""
    for language in schema.languages:
        if language.endswith(f"({locale})"):
            return language
    return None


def _one(params, name: str) -> str | None:
    value = (params.get(name) or "").strip()
    return value or None



def language_display(language: str, locale: str) -> str:
    """A form's label language as the page's language names it ("Russian (ru)" -> "русский"
    on a Russian page), by Babel from its code; as written when it has no code Babel knows."""
    from babel import Locale, UnknownLocaleError

    code = language.rpartition("(")[2].rstrip(")") if language.endswith(")") else ""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(locale) if code else None
    except (UnknownLocaleError, ValueError):
        name = None
    return name or language

@get("/projects/{project_id:int}/data", include_in_schema=False)
async def data_home(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id, "export")
    forms = [
        {"xml_form_id": r["xml_form_id"], "title": r["title"] or r["xml_form_id"], "total": r["total"]}
        for r in await summaries_db.project_forms(
            conn, project_id, scope=row_scope(page.actor, project_id)) if r["title"] is not None
    ]
    return page.render("research/data.html", project=project, forms=forms)


@get("/projects/{project_id:int}/data/{xml_form_id:str}", include_in_schema=False)
async def export_page(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id, "export")
    return await _export_page(page, conn, project, xml_form_id)


async def _export_page(page: Page, conn, project, xml_form_id: str, *, error: str | None = None,
                       status: int = 200) -> Response:
    form, schema = await _form(conn, project["id"], xml_form_id)
    _ = page.i18n.gettext
    language = _form_language(schema, page.i18n.locale)
    fields = [
        {"path": f.path, "label": label_in(f.labels, language, schema.default_language)}
        for f in schema.fields if f.name != "meta" and f.kind != "note" and f.type != "note"
    ]
    params = page.request.query_params
    masked = [label_in(schema.field(p).labels, language, schema.default_language) or p
              for p in sorted(masked_paths(page.actor, project["id"], schema))]
    return page.render(
        "research/export.html", status=status, project=project, form=form, title=schema.title,
        masked=masked,
        xml_form_id=xml_form_id, languages=schema.languages,
        language_names={lang: language_display(lang, page.i18n.locale) for lang in schema.languages},
        language=_one(params, "lang") or _form_language(schema, page.i18n.locale) or "",
        fields=fields, review_states=[(s, s) for s in REVIEW_STATES], error=error,
        base=f"/projects/{project['id']}/data/{quote(xml_form_id, safe='')}",
    )


def _export_request(params, kind: str) -> ExportRequest:
    """The export page's form as REST's options (the workbook's choices as labels by default,
    the CSV zip without its files)."""
    states = [s for s in params.getall("reviewState", []) if s]
    fields = [f for f in params.getall("fields", []) if f]
    common: dict[str, Any] = {
        "since": _one(params, "since"),
        "until": _one(params, "until"),
        "review_state": states or None,
        "fields": ",".join(fields) if fields else None,
        "group_paths": params.get("groupPaths", "true") != "false",
    }
    if kind == "xlsx":
        return ExportRequest(**common, lang=_one(params, "lang"),
                             choices=params.get("choices", "label"))
    if kind == "excel.csv.zip":  # the labels chosen beside its button, as the workbook's
        return ExportRequest(
            **common, lang=_one(params, "lang"), choices=params.get("choices", "label"),
            split_select_multiples=params.get("splitSelectMultiples") == "true",
            escape_formulas=params.get("escapeFormulas", "true") != "false",
        )
    return ExportRequest(
        **common, attachments=True,
        split_select_multiples=params.get("splitSelectMultiples") == "true",
        escape_formulas=params.get("escapeFormulas", "true") != "false",
    )


async def _download(page: Page, conn, project_id: int, xml_form_id: str, kind: str) -> Response:
    project = await _project(conn, page, project_id, "export")
    form, schema = await _form(conn, project_id, xml_form_id)
    state = page.request.app.state
    try:
        export = await exports_service.start_export(
            conn, page.actor, project_id, xml_form_id, kind,
            _export_request(page.request.query_params, kind),
            dsn=state.read_dsn, slots=state.stream_slots, store=state.attachment_store,
        )
    except Problem as problem:
        return await _export_page(page, conn, project, xml_form_id, status=problem.status,
                                  error=page.problem_message(problem))
    name = file_name(page.i18n, kind, schema.title or xml_form_id)
    return Stream(export.body, media_type=export.media_type,
                  headers={"Content-Disposition": content_disposition(name)})


@get("/projects/{project_id:int}/data/{xml_form_id:str}/submissions.xlsx", include_in_schema=False)
async def download_xlsx(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    return await _download(page, conn, project_id, xml_form_id, "xlsx")


@get("/projects/{project_id:int}/data/{xml_form_id:str}/submissions.csv.zip", include_in_schema=False)
async def download_csv_zip(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    return await _download(page, conn, project_id, xml_form_id, "csv.zip")


@get("/projects/{project_id:int}/data/{xml_form_id:str}/submissions.excel.csv.zip",
     include_in_schema=False)
async def download_excel_csv_zip(project_id: int, xml_form_id: str, page: Page,
                                 conn: asyncpg.Connection) -> Response:
    return await _download(page, conn, project_id, xml_form_id, "excel.csv.zip")


# --- the survey report ---------------------------------------------------------------------


def _report_options(page: Page, schema) -> ReportOptions:
    params = page.request.query_params
    return ReportOptions(
        since=_one(params, "since"),
        until=_one(params, "until"),
        review_state=None,
        version=None,
        by=_one(params, "by"),
        period=_one(params, "period"),
        lang=_one(params, "lang") or _form_language(schema, page.i18n.locale),
    )


def report_view(i18n: I18n, report: dict) -> list[dict]:
    """The report's questions as tables and chart series (the total column)."""
    _ = i18n.gettext

    def word(text):
        return _(REPORT_WORDS[text]) if text in REPORT_WORDS else text

    columns = [word(c.get("label") if isinstance(c, dict) else c) for c in report["breakdown"]["columns"]] \
        if report["breakdown"].get("columns") else []
    out = []
    for index, q in enumerate(report["questions"]):
        table = q["table"]
        rows = [{"label": word(r["label"]) if r.get("label") is not None else "—",
                 "counts": counts, "missing": bool(r.get("missing"))}
                for r, counts in zip(table["rows"], table["counts"], strict=False)]
        stats = q.get("stats") or {}
        out.append({
            # a question without a label (a calculation) is named by its code alone
            "index": index, "label": q["label"], "name": q["name"], "kind": q["kind"],
            "rows": rows, "columns": columns,
            "series": {"labels": [r["label"] for r in rows if not r["missing"]],
                       "values": [r["counts"][-1] if r["counts"] else None for r in rows if not r["missing"]]},
            "stats": [{"label": _(name), "values": stats[key]}
                      for key, name in REPORT_STATS.items() if key in stats],
            "repeat": q["scope"].rsplit("/", 1)[-1] if q.get("scope") else None,
            "masked": bool(q.get("masked")),
        })
    return out


@get("/projects/{project_id:int}/data/{xml_form_id:str}/report", include_in_schema=False)
async def report_page(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    project = await _project(conn, page, project_id, "summary.read")
    form, schema = await _form(conn, project_id, xml_form_id)
    options = _report_options(page, schema)
    error, status = None, 200
    try:
        report = await exports_service.form_report(
            conn, page.actor, page.request.app.state.settings, project_id, xml_form_id, options, output="json")
    except Problem as problem:  # the page answers with REST's status (403 is 403, not 400)
        error, status = page.problem_message(problem), problem.status
        report = None
    choice_fields = [
        {"path": f.path, "label": label_in(f.labels, options.lang, schema.default_language) or f.name}
        for f in schema.walk()
        if f.type == "select_one" and not any(f.path.startswith(r + "/") for r in schema.repeat_paths)
    ]
    params = {k: v for k, v in page.request.query_params.items() if v}
    return page.render(
        "research/report.html", status=status, project=project, title=schema.title,
        xml_form_id=xml_form_id, error=error, report=report,
        questions=report_view(page.i18n, report) if report else [],
        choice_fields=choice_fields, periods=[(k, page._(v)) for k, v in PERIOD_LABELS.items()],
        params=params, microdata=page.actor.sees_microdata(project_id),
        download=f"/projects/{project_id}/data/{quote(xml_form_id, safe='')}/report.xlsx"
                 + (f"?{urlencode(params)}" if params else ""),
    )


@get("/projects/{project_id:int}/data/{xml_form_id:str}/report.xlsx", include_in_schema=False)
async def report_workbook(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    await _project(conn, page, project_id, "summary.read")
    form, schema = await _form(conn, project_id, xml_form_id)
    report = await exports_service.form_report(
        conn, page.actor, page.request.app.state.settings, project_id, xml_form_id, _report_options(page, schema),
        output="xlsx")
    return Response(
        report_xlsx(report, translate=page.i18n.gettext), media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": content_disposition(
            file_name(page.i18n, "report.xlsx", schema.title or xml_form_id))},
    )


# --- connecting other tools ----------------------------------------------------------------


@get("/projects/{project_id:int}/connect", include_in_schema=False)
async def connect_page(project_id: int, page: Page, conn: asyncpg.Connection, settings: Settings) -> Response:
    project = await _project(conn, page, project_id, "export")
    server = base_url(page.request, settings)
    forms = [
        {"xml_form_id": r["xml_form_id"], "title": r["title"] or r["xml_form_id"],
         "odata": f"{server}/v1/projects/{project_id}/forms/{quote(r['xml_form_id'], safe='')}.svc"}
        for r in await summaries_db.project_forms(
            conn, project_id, scope=row_scope(page.actor, project_id)) if r["title"] is not None
    ]
    return page.render("research/connect.html", project=project, server=server, forms=forms,
                       email=page.actor.email or "", https=server.startswith("https://"),
                       local=only_this_machine(server))


ROUTES = [data_home, export_page, download_xlsx, download_csv_zip, download_excel_csv_zip,
          report_page, report_workbook, connect_page]

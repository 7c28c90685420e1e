"""Exports and survey reports of a form's submissions (the use cases: api/services/exports.py).

GET /v1/projects/{pid}/forms/{xmlFormId}/submissions.csv.zip   (Central's CSV zip, with media/)
GET /v1/projects/{pid}/forms/{xmlFormId}/submissions.excel.csv.zip  (CSV for Excel: BOM, labels)
GET /v1/projects/{pid}/forms/{xmlFormId}/submissions.xlsx      (a workbook with a codebook)
GET /v1/projects/{pid}/forms/{xmlFormId}/report                (per-question summary, JSON)
GET /v1/projects/{pid}/forms/{xmlFormId}/report.xlsx           (the same as a workbook)
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Request, get, route
from litestar.params import Parameter
from litestar.response import Response, Stream

from api.auth import Actor
from api.http import content_disposition
from api.services import exports as exports_service
from api.services.exports import XLSX_MEDIA_TYPE, ExportRequest, ReportOptions
from exports.reports import report_xlsx

FORM_PATH = "/v1/projects/{project_id:int}/forms/{xml_form_id:str}"


async def _stream(
    request: Request, conn: asyncpg.Connection, actor: Actor | None, project_id: int,
    xml_form_id: str, export_format: str, asked: ExportRequest,
) -> Stream:
    state = request.app.state
    export = await exports_service.start_export(
        conn, actor, project_id, xml_form_id, export_format, asked,
        dsn=state.read_dsn, slots=state.stream_slots, store=state.attachment_store,
    )
    return Stream(
        export.body,
        media_type=export.media_type,
        headers={"Content-Disposition": content_disposition(export.file_name)},
    )


# POST as well as GET, as in ODK Central (ruODK posts); a POST's form body is not needed.
@route(FORM_PATH + "/submissions.csv.zip", http_method=["GET", "POST"], status_code=200)
async def export_csv_zip(
    request: Request,
    project_id: int,
    xml_form_id: str,
    conn: asyncpg.Connection,
    actor: Actor | None,
    since: str | None = None,
    until: str | None = None,
    review_state: list[str] | None = Parameter(query="reviewState", default=None),
    version: list[str] | None = None,
    fields: str | None = None,
    group_paths: bool = Parameter(query="groupPaths", default=True),
    split_select_multiples: bool = Parameter(query="splitSelectMultiples", default=False),
    attachments: bool = True,
    escape_formulas: bool = Parameter(query="escapeFormulas", default=True),
) -> Stream:
    """As Central: newest submission first; with `attachments` (the default) the files under
    media/ and the Collect audit logs merged, in `{xmlFormId}.zip`; without, `.csv.zip`."""
    asked = ExportRequest(
        since=since, until=until, review_state=review_state, version=version, fields=fields,
        group_paths=group_paths, split_select_multiples=split_select_multiples,
        attachments=attachments, escape_formulas=escape_formulas,
    )
    return await _stream(request, conn, actor, project_id, xml_form_id, "csv.zip", asked)


@get(FORM_PATH + "/submissions.excel.csv.zip")
async def export_excel_csv_zip(
    request: Request,
    project_id: int,
    xml_form_id: str,
    conn: asyncpg.Connection,
    actor: Actor | None,
    since: str | None = None,
    until: str | None = None,
    review_state: list[str] | None = Parameter(query="reviewState", default=None),
    version: list[str] | None = None,
    fields: str | None = None,
    group_paths: bool = Parameter(query="groupPaths", default=True),
    split_select_multiples: bool = Parameter(query="splitSelectMultiples", default=False),
    escape_formulas: bool = Parameter(query="escapeFormulas", default=True),
    lang: str | None = None,
    choices: str = "label",
) -> Stream:
    """The CSV files for Excel: UTF-8 with a byte-order mark, headers labelled in `lang` (the
    form's default language without), choices as labels unless `choices=value`; no media."""
    asked = ExportRequest(
        since=since, until=until, review_state=review_state, version=version, fields=fields,
        group_paths=group_paths, split_select_multiples=split_select_multiples,
        escape_formulas=escape_formulas, lang=lang, choices=choices,
    )
    return await _stream(request, conn, actor, project_id, xml_form_id, "excel.csv.zip", asked)


@get(FORM_PATH + "/submissions.xlsx")
async def export_xlsx(
    request: Request,
    project_id: int,
    xml_form_id: str,
    conn: asyncpg.Connection,
    actor: Actor | None,
    since: str | None = None,
    until: str | None = None,
    review_state: list[str] | None = Parameter(query="reviewState", default=None),
    version: list[str] | None = None,
    fields: str | None = None,
    group_paths: bool = Parameter(query="groupPaths", default=True),
    lang: str | None = None,
    choices: str = "value",
) -> Stream:
    asked = ExportRequest(
        since=since, until=until, review_state=review_state, version=version, fields=fields,
        group_paths=group_paths, lang=lang, choices=choices,
    )
    return await _stream(request, conn, actor, project_id, xml_form_id, "xlsx", asked)


@get(FORM_PATH + "/report")
async def get_report(
    request: Request,
    project_id: int,
    xml_form_id: str,
    conn: asyncpg.Connection,
    actor: Actor | None,
    since: str | None = None,
    until: str | None = None,
    review_state: list[str] | None = Parameter(query="reviewState", default=None),
    version: list[str] | None = None,
    by: str | None = None,
    period: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    return await exports_service.form_report(
        conn, actor, request.app.state.settings, project_id, xml_form_id,
        ReportOptions(since, until, review_state, version, by, period, lang), output="json",
    )


@get(FORM_PATH + "/report.xlsx")
async def get_report_xlsx(
    request: Request,
    project_id: int,
    xml_form_id: str,
    conn: asyncpg.Connection,
    actor: Actor | None,
    since: str | None = None,
    until: str | None = None,
    review_state: list[str] | None = Parameter(query="reviewState", default=None),
    version: list[str] | None = None,
    by: str | None = None,
    period: str | None = None,
    lang: str | None = None,
) -> Response:
    report = await exports_service.form_report(
        conn, actor, request.app.state.settings, project_id, xml_form_id,
        ReportOptions(since, until, review_state, version, by, period, lang), output="xlsx",
    )
    return Response(
        report_xlsx(report),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": content_disposition(f"{xml_form_id}-report.xlsx")},
    )

"""Risk-group summaries: GET /v1/projects/{pid}/summaries/risk (JSON) and .../risk.xlsx.

This module reads the request and shapes the answer; the tables come from the summary service
(api/services/summaries.py). Disclosure control is on by default: the current publication,
through the bounded query language, every count published by the one engine
(exports/disclosure.py), the method and the publication stated in the answer. Only roles that
may read microdata may turn it off (`disclosure=off`) for live counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from litestar import Request, Response, get

from api.auth import Actor, authorize
from api.http import content_disposition
from api.problems import Problem
from api.scopes import sees_whole_project
from api.services.publications import latest_publication
from api.services.summaries import (
    XLSX_MEDIA,
    SummaryRequest,
    SummaryResult,
    build_summary,
    month_text,
    parse_summary_query,
    publication_json,
    workbook_bytes,
    workbook_tables,
)
from api.settings import Settings
from db import projects as projects_db
from db import summaries as summaries_db
from db.publications import Publication
from db.summaries import UNKNOWN
from exports.disclosure import method

# --- JSON -----------------------------------------------------------------------------------


def _shown(value):
    return None if value == UNKNOWN else value


def summary_json(result: SummaryResult) -> dict:
    request = result.request
    cells, totals = [], []
    for part in result.slices:
        table = part.table
        base = {"period": part.period} if request.period else {}
        for key, n in table.cells.items():
            item = dict(base)
            item.update({name: _shown(v) for name, v in zip(request.by, key, strict=True)})
            item.update(count=n, suppressed=n is None)
            cells.append(item)
        for i, margin in enumerate(table.margins):
            for value, n in margin.items():
                totals.append({**base, request.by[i]: _shown(value), "count": n, "suppressed": n is None})
        totals.append({**base, "count": table.total, "suppressed": table.total is None})
    body = {
        "k": result.k,
        "disclosureControl": result.k is not None,
        "rubricVersions": result.rubric_versions,
        "by": list(request.by),
        "period": request.period,
        "from": month_text(request.month_from, first=True),
        "to": month_text(request.month_to, first=False),
        "reviewStates": list(request.reviews),
        "filters": {name: list(v) for name, v in request.filters.items()},
        "cells": cells,
        "totals": totals,
    }
    if result.publication is not None and result.k is not None:
        body["publication"] = publication_json(result.publication)
        body["disclosure"] = method(result.k)
    return body


# --- handlers ---------------------------------------------------------------------------------


async def resolve_request(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, params: Mapping[str, str], settings: Settings
) -> tuple[SummaryRequest, int | None, str, Publication | None]:
    """With disclosure control (always, for roles without microdata): the bounded query
    language over the current publication. Without: live counts."""
    actor = authorize(actor, "summary.read", project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise Problem("project-not-found")
    off = params.get("disclosure") == "off"
    if off and not sees_whole_project(actor, project_id):
        raise Problem("summary-disclosure-required")
    request, off = parse_summary_query(params, restricted=not off)
    request = request.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    if off:
        return request, None, project["name"], None
    publication = await latest_publication(conn, project_id, settings)
    return request, settings.disclosure_k, project["name"], publication


@get("/v1/projects/{project_id:int}/summaries/risk")
async def risk_summary(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None, settings: Settings
) -> dict:
    summary, k, _, publication = await resolve_request(
        conn, actor, project_id, dict(request.query_params), settings
    )
    return summary_json(await build_summary(conn, summary, k, publication))


@get("/v1/projects/{project_id:int}/summaries/risk.xlsx")
async def risk_summary_workbook(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None, settings: Settings
) -> Response:
    params = dict(request.query_params)
    summary, k, name, publication = await resolve_request(conn, actor, project_id, params, settings)
    tables = await workbook_tables(
        conn, summary, k, requested_by=bool(params.get("by")), publication=publication
    )
    return Response(
        workbook_bytes(name, tables),
        media_type=XLSX_MEDIA,
        headers={"Content-Disposition": content_disposition("risk.xlsx")},
    )

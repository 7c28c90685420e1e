"""Risk-group summaries: GET /v1/projects/{pid}/summaries/risk (JSON) and .../risk.xlsx.

This module reads the request and shapes the answer; the tables come from the summary service
(api/services/summaries.py). Disclosure control is on by default, and only roles that may read
microdata may turn it off (`disclosure=off`).
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from litestar import Request, Response, get

from api.auth import Actor, authorize
from api.problems import Problem
from api.services.summaries import (
    XLSX_MEDIA,
    SummaryRequest,
    SummaryResult,
    build_summary,
    month_text,
    parse_summary_query,
    workbook_bytes,
    workbook_tables,
)
from api.settings import Settings
from db import projects as projects_db
from db import summaries as summaries_db
from db.summaries import UNKNOWN

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
    return {
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


# --- handlers ---------------------------------------------------------------------------------


async def resolve_request(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, params: Mapping[str, str], settings: Settings
) -> tuple[SummaryRequest, int | None, str]:
    actor = authorize(actor, "summary.read", project_id)
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise Problem("project-not-found")
    request, off = parse_summary_query(params)
    if off and not actor.sees_microdata(project_id):
        raise Problem("summary-disclosure-required")
    request = request.with_forms(await summaries_db.screening_form_ids(conn, project_id))
    return request, (None if off else settings.disclosure_k), project["name"]


@get("/v1/projects/{project_id:int}/summaries/risk")
async def risk_summary(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None, settings: Settings
) -> dict:
    summary, k, _ = await resolve_request(conn, actor, project_id, dict(request.query_params), settings)
    return summary_json(await build_summary(conn, summary, k))


@get("/v1/projects/{project_id:int}/summaries/risk.xlsx")
async def risk_summary_workbook(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None, settings: Settings
) -> Response:
    params = dict(request.query_params)
    summary, k, name = await resolve_request(conn, actor, project_id, params, settings)
    tables = await workbook_tables(conn, summary, k, requested_by=bool(params.get("by")))
    return Response(
        workbook_bytes(name, tables),
        media_type=XLSX_MEDIA,
        headers={"Content-Disposition": 'attachment; filename="risk.xlsx"'},
    )

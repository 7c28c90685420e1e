"""Reintegration summaries for ministries: counts of support-centre cases (the `cases` entity
list) opened, active and closed, by centre, quarter, stage and the other coded properties.

The same disclosure control as the risk summaries, from the same engine
(exports/disclosure.py) and the same publications (api/services/publications.py): with
disclosure control (on by default; always for roles without microdata) the counts are those of
the project's current publication, which froze every case in its state at the end of the
publication's month (db/publications.py), each case's record key a keyed hash of its uuid plus
the publication's case salt; nothing a case does after that moves a published count. Only
roles that may read microdata may turn it off, for live counts of the cases as they are now.
The answer holds counts only: never a case code, a label or a date finer than a quarter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import sees_whole_project
from api.services.publications import latest_publication
from api.services.summaries import publication_json
from api.settings import Settings
from db import entities as entities_db
from db import projects as projects_db
from db import publications as publications_db
from db.publications import CASES_LIST, Publication
from exports.disclosure import ProtectedTable, method, protect, unprotected
from exports.reintegration import DIMENSIONS, MEASURES, reintegration_table

QUERY_KEYS = {"measure", "by", "disclosure"}
DEFAULT_BY = {"opened": ("centre", "quarter"), "active": ("centre", "stage"),
              "closed": ("centre", "quarter")}


def parse_reintegration_query(params: Mapping[str, str]) -> tuple[str, tuple[str, ...], bool]:
    unknown = sorted(set(params) - QUERY_KEYS)
    if unknown:
        raise Problem("summary-query-invalid", N_("Unknown query parameter(s): %(names)s."),
                      params={"names": ", ".join(unknown)})
    measure = params.get("measure", "opened")
    if measure not in MEASURES:
        raise Problem("summary-query-invalid", N_("measure must be one of %(values)s."),
                      params={"values": ", ".join(MEASURES)})
    raw = params.get("by")
    by = DEFAULT_BY[measure] if raw is None else tuple(p for p in raw.split(",") if p.strip())
    bad = [d for d in by if d not in DIMENSIONS]
    if bad or len(by) > 2 or len(set(by)) != len(by):
        raise Problem("summary-query-invalid", N_("by takes up to two of %(values)s (got %(value)s)."),
                      params={"values": ", ".join(DIMENSIONS), "value": raw or ""})
    if measure == "active" and "quarter" in by:
        raise Problem("summary-query-invalid",
                      N_("Active cases are counted as they are now; quarter applies to opened and closed."))
    disclosure = params.get("disclosure", "on")
    if disclosure not in ("on", "off"):
        raise Problem("summary-query-invalid", N_("disclosure must be on or off."))
    return measure, by, disclosure == "off"


async def reintegration_summary(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, params: Mapping[str, str],
    settings: Settings,
) -> tuple[str, tuple[str, ...], ProtectedTable, Publication | None]:
    actor = authorize(actor, "summary.read", project_id)
    if await projects_db.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    measure, by, off = parse_reintegration_query(params)
    if off and not sees_whole_project(actor, project_id):
        raise Problem("summary-disclosure-required")
    if off:  # live: the cases as they are now (keys play no part without perturbation)
        cases = [(0, data) for _, data in await entities_db.current_data(conn, project_id, CASES_LIST)]
        return measure, by, unprotected(reintegration_table(cases, measure, by)), None
    publication = await latest_publication(conn, project_id, settings)
    table = reintegration_table(await publications_db.read_cases(conn, publication.id), measure, by)
    return measure, by, protect(table, settings.disclosure_k), publication


def summary_json(measure: str, by: tuple[str, ...], table: ProtectedTable,
                 publication: Publication | None = None) -> dict[str, Any]:
    cells = [{**dict(zip(by, key, strict=True)), "count": n, "suppressed": n is None}
             for key, n in table.cells.items()]
    totals = [{by[i]: value, "count": n, "suppressed": n is None}
              for i, margin in enumerate(table.margins) for value, n in margin.items()]
    totals.append({"count": table.total, "suppressed": table.total is None})
    body = {"k": table.k, "disclosureControl": table.k is not None, "measure": measure,
            "by": list(by), "cells": cells, "totals": totals}
    if table.k is not None:
        body["method"] = method(table.k)  # an attacker is assumed to know it: say it
    if publication is not None:
        body["publication"] = {**publication_json(publication), "casesRevised": publication.cases_revised}
    return body

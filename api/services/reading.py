"""Who viewed what (issue 24): the reads the audit log holds, shown where they matter.

- a submission's page and a case's page list who read the record, when, and how (its page,
  the API, a file, or an export or OData read of its form that may have held it);
- managers' page of unusual reading: a user who read more than
  `Settings.unusual_reads_per_hour` records of the project in one clock hour, and every
  export that held sensitive fields unmasked (`api.services.exports.sensitive_details`).
Only roles with `audit.read` (managers, administrators) see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg

from api.auth import Actor, authorize
from api.scopes import row_scope
from api.services.entities import entity_acted_on
from api.services.forms import form_or_404
from api.services.submissions import acted_on, submission_row
from api.settings import Settings
from db import audits

VIEWS_SHOWN = 100  # the newest reads a record's page lists
WINDOW_DAYS = (1, 7, 30, 90)  # what the unusual-reading page looks back over


def view_kind(action: str, details: dict | None) -> str:
    """How a read reached the record: page, api, attachment, export, odata or case."""
    details = details or {}
    if action == "submission.read" and details.get("view") == "page":
        return "page"
    if action == "submission.attachment.read":
        return "attachment"
    if action == "submission.export":
        return "export"
    if action == "odata.read":
        return "odata"
    if action in ("case.read", "entity.timeline.read"):
        return "case"
    return "api"


def _views(rows: Iterable[asyncpg.Record]) -> list[dict]:
    return [{"who": r["actor_name"], "actor_id": r["actor_id"], "at": r["logged_at"],
             "kind": view_kind(r["action"], r["details"]),
             "sensitive": (r["details"] or {}).get("sensitive")} for r in rows]


async def submission_views(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str,
) -> list[dict]:
    """Who read the submission, newest first (VIEWS_SHOWN at most)."""
    authorize(actor, "audit.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id, scope=row_scope(actor, project_id))
    rows = await audits.list_views(
        conn, [acted_on(project_id, xml_form_id, instance_id)],
        [(f"form/{project_id}/{xml_form_id}", row["created_at"], instance_id)], VIEWS_SHOWN,
    )
    return _views(rows)


async def case_views(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset: str, uuid: str,
    submissions: Iterable[tuple[str, str, datetime]],
) -> list[dict]:
    """Who read the case or one of its submissions (xmlFormId, instanceID, received)."""
    authorize(actor, "audit.read", project_id)
    submissions = list(submissions)
    records = [entity_acted_on(project_id, dataset, uuid),
               *(acted_on(project_id, form_id, iid) for form_id, iid, _ in submissions)]
    bulk = [(f"form/{project_id}/{form_id}", received, iid)
            for form_id, iid, received in submissions]
    return _views(await audits.list_views(conn, records, bulk, VIEWS_SHOWN))


async def unusual_reading(
    conn: asyncpg.Connection, actor: Actor | None, settings: Settings, project_id: int,
    days: int,
) -> dict:
    """Heavy readers (more than the setting's records in a clock hour) and exports that held
    sensitive fields unmasked, over the last `days` days."""
    authorize(actor, "audit.read", project_id)
    since = await conn.fetchval("SELECT now()") - timedelta(days=days)
    heavy = await audits.heavy_readers(conn, project_id, since, settings.unusual_reads_per_hour)
    exports = await audits.sensitive_exports(conn, project_id, since)
    return {
        "limit": settings.unusual_reads_per_hour,
        "since": since,
        "heavy": [{"who": r["actor_name"], "actor_id": r["actor_id"], "hour": r["hour"],
                   "records": r["records"]} for r in heavy],
        "exports": [{"who": r["actor_name"], "actor_id": r["actor_id"], "at": r["logged_at"],
                     "form": r["acted_on"].split("/", 2)[2],
                     "format": (r["details"] or {}).get("format")} for r in exports],
    }

"""Retention periods (issue 25): a manager sets, per form, that submissions older than N months
(a submission that wrote a case: N months after the case closed) are erased, whole or only
their sensitive fields (the questions the form marks `sensitive`). Off by default. The form's
page shows what the next run erases (`due_now`); the daily run (api/services/trash.py's timer,
`fieldsurvey purge`) erases exactly that (`run_retention`, the same query at the same moment).

Whole: a plain submission is erased as `erase_submission` does; a case's submission takes its
case with it (the entity and every submission that wrote it), as erasing the case does, since
the case holds the same person. Sensitive fields: every version's answers and XML lose those
values, and the files they named go. Published aggregate counts stay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from api.auth import Actor, authorize
from api.form_cache import version_schema
from api.i18n import N_
from api.problems import Problem
from api.services.erasure import (
    ErasureReport,
    erase_entity_records,
    erase_submission_records,
)
from api.services.forms import form_or_404
from api.services.trash import forget_files
from db import audits
from db import retention as retention_db
from db import trash as trash_db
from forms.erasure import blank_answers, blank_xml

SCOPES = ("whole", "sensitive")
MAX_MONTHS = 1200


@dataclass(frozen=True)
class DueSubmission:
    instance_id: str
    received_at: datetime
    closed_at: datetime | None  # a case's closure, when the period counts from it
    scope: str


async def form_retention(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str
) -> asyncpg.Record | None:
    authorize(actor, "form.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    return await retention_db.get_retention(conn, form["id"])


async def set_form_retention(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    months: int | None, scope: str,
) -> None:
    """Turn the form's retention period on (months, scope) or off (months None)."""
    actor = authorize(actor, "form.update", project_id)
    authorize(actor, "submission.update", project_id)
    if months is not None and not 1 <= months <= MAX_MONTHS:
        raise Problem("request-invalid", N_("The retention period is 1 to %(n)s months."),
                      params={"n": MAX_MONTHS})
    if scope not in SCOPES:
        raise Problem("request-invalid", N_("Erase the whole submission or its sensitive "
                                            "fields."))
    form = await form_or_404(conn, project_id, xml_form_id)
    async with conn.transaction():
        await retention_db.set_retention(conn, form["id"], months, scope, actor.id)
        await audits.log_audit(conn, actor.id, "form.update.retention",
                               f"form/{project_id}/{xml_form_id}",
                               {"months": months, "scope": scope if months else None})


async def due_now(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    now: datetime | None = None,
) -> list[DueSubmission]:
    """What the next run erases (as of `now`, default the database's clock)."""
    authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    now = now or await trash_db.database_now(conn)
    return [DueSubmission(r["instance_id"], r["created_at"], r["closed_at"], r["scope"])
            for r in await retention_db.due_submissions(conn, form["id"], now)]


async def _erase_fields(conn: asyncpg.Connection, submission_id: int) -> list[str]:
    """Blank the sensitive fields of every version of a submission; its files they named go."""
    keys: list[str] = []
    for version in await retention_db.versions_for_erasure(conn, submission_id):
        paths = (await version_schema(conn, version["form_def_id"])).sensitive_paths
        if not paths:
            continue
        answers, files = blank_answers(version["answers"], paths)
        xml = blank_xml(bytes(version["xml"]), paths)
        keys += await retention_db.rewrite_version(
            conn, version["id"], xml, hashlib.md5(xml).digest(), answers, files)
    await retention_db.mark_fields_erased(conn, submission_id)
    return keys


async def run_retention(
    conn: asyncpg.Connection, store, now: datetime | None = None
) -> ErasureReport:
    """Erase what every form's retention period makes due at `now` (default: the database's
    clock). One transaction per record (a case: with all its submissions)."""
    now = now or await trash_db.database_now(conn)
    report = ErasureReport()
    for setting in await retention_db.retained_forms(conn):
        details = {"retention": {"months": setting["months"], "scope": setting["scope"]}}
        for row in await retention_db.due_submissions(conn, setting["form_id"], now):
            if row["id"] in report.erased_ids:
                continue  # went with its case
            async with conn.transaction():
                if row["scope"] == "sensitive":
                    keys = await _erase_fields(conn, row["id"])
                    await audits.log_audit(
                        conn, None, "submission.erase.fields",
                        f"submission/{row['project_id']}/{row['xml_form_id']}/"
                        f"{row['instance_id']}", details)
                    report.fields += 1
                elif row["entity_id"] is not None:
                    entity = await trash_db.entity_by_id_for_erasure(conn, row["entity_id"])
                    keys = await erase_entity_records(conn, None, entity, report, details)
                else:
                    keys = await erase_submission_records(conn, None, row, report, details)
            report.files += await forget_files(conn, store, keys)
    return report

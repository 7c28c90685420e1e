"""The trash, as ODK Central keeps it (v2024.2-v2025.1): a deleted submission or entity leaves
every table, export, OData feed, report and live summary count at once, can be restored for
`FIELDSURVEY_TRASH_DAYS`, and is then purged for good with its versions, comments and the
attachment files nothing else references. The audit log keeps that a record was deleted,
restored or purged, by whom and when, never its content.

An entity a deleted submission created stays (Central), unless the deletion asks for it too.
Deletion itself is one UPDATE (db/trash.py; the view `submissions` of migration 0050 hides the
row everywhere else); a purge removes the rows in one statement and then the files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services.entities import entity_acted_on
from api.services.forms import form_or_404
from api.services.projects import require_writable_project
from api.services.submissions import acted_on
from db import audits
from db import blobs as blobs_db
from db import trash as trash_db

PURGE_BATCH = 500


async def delete_submission(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str, *, with_entities: bool = False,
) -> int:
    """Move a submission to the trash (and, when asked, the entities it created); how many
    entities went with it."""
    actor = authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    async with conn.transaction():
        submission_id = await trash_db.mark_submission_deleted(
            conn, form["id"], instance_id, scope=row_scope(actor, project_id))
        if submission_id is None:
            raise Problem("submission-not-found")
        await audits.log_audit(
            conn, actor.id, "submission.delete", acted_on(project_id, xml_form_id, instance_id),
            {"submissionId": submission_id},
        )
        entities = []
        if with_entities:
            authorize(actor, "entity.update", project_id)
            entities = await trash_db.mark_created_entities_deleted(conn, submission_id)
            for e in entities:
                await audits.log_audit(
                    conn, actor.id, "entity.delete",
                    entity_acted_on(project_id, e["dataset"], e["uuid"]),
                    {"entity": {"uuid": e["uuid"], "dataset": e["dataset"]},
                     "entityId": e["id"], "submissionId": submission_id},
                )
    return len(entities)


async def restore_submission(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str,
) -> None:
    actor = authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    async with conn.transaction():
        submission_id = await trash_db.mark_submission_restored(
            conn, form["id"], instance_id, scope=row_scope(actor, project_id))
        if submission_id is None:
            raise Problem("submission-not-found",
                          N_("No deleted submission %(id)s in this form."),
                          params={"id": instance_id})
        await audits.log_audit(
            conn, actor.id, "submission.restore", acted_on(project_id, xml_form_id, instance_id),
            {"submissionId": submission_id},
        )


async def list_deleted_submissions(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str
) -> list[asyncpg.Record]:
    """Central's GET .../submissions?deleted=true: the form's trash, last deleted first."""
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    rows = await trash_db.list_deleted_submissions(conn, form["id"],
                                                   scope=row_scope(actor, project_id))
    await audits.log_audit(
        conn, actor.id, "submission.list", f"form/{project_id}/{xml_form_id}",
        {"count": len(rows), "deleted": True},
    )
    return rows


def purge_after(deleted_at: datetime, days: int) -> datetime:
    """When a record deleted at `deleted_at` is purged."""
    return deleted_at + timedelta(days=days)


# --- purging ---------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    submissions: int = 0
    entities: int = 0
    files: int = 0


async def forget_files(conn: asyncpg.Connection, store, keys: Iterable[str]) -> int:
    """After the commit that removed their rows: delete the files nothing references now.
    (A crash in between leaves files no row names; `fieldsurvey attachments sweep` takes them.)"""
    return await blobs_db.delete_unreferenced(conn, store, keys)


async def purge_submission_ids(
    conn: asyncpg.Connection, rows: Iterable, actor_id: int | None, action: str | None,
) -> tuple[int, list[str]]:
    """Inside the caller's transaction: remove the submissions `rows` (id, project_id,
    xml_form_id, instance_id) for good, drop the review notes of their audit lines, and write
    one `action` audit line for each (no content; None: the caller writes its own).
    Returns (how many, blob keys the caller hands to `forget_files` after the commit)."""
    rows = list(rows)
    if not rows:
        return 0, []
    purged, keys = await trash_db.purge_submissions(conn, [r["id"] for r in rows])
    names = [acted_on(r["project_id"], r["xml_form_id"], r["instance_id"]) for r in rows]
    await trash_db.scrub_audit_notes(conn, names)
    await trash_db.forget_outbox(conn, [f"submission/{r['id']}" for r in rows],
                                 [r["instance_id"].removeprefix("uuid:") for r in rows])
    if action is not None:
        for r, name in zip(rows, names, strict=True):
            await audits.log_audit(conn, actor_id, action, name, {"submissionId": r["id"]})
    return purged, keys


async def purge_entity_ids(
    conn: asyncpg.Connection, rows: Iterable, actor_id: int | None, action: str | None,
) -> int:
    """Inside the caller's transaction: remove the entities `rows` (id, project_id, dataset,
    uuid) and their versions for good, one `action` audit line each (None: none)."""
    rows = list(rows)
    if not rows:
        return 0
    purged = await trash_db.purge_entities(conn, [r["id"] for r in rows])
    await trash_db.forget_outbox(
        conn, [f"{kind}/{r['uuid']}" for r in rows for kind in ("entity", "case")],
        [r["uuid"] for r in rows])
    for r in rows if action is not None else ():
        await audits.log_audit(
            conn, actor_id, action, entity_acted_on(r["project_id"], r["dataset"], r["uuid"]),
            {"entity": {"uuid": r["uuid"], "dataset": r["dataset"]}, "entityId": r["id"]},
        )
    return purged


async def purge_trash(
    conn: asyncpg.Connection, store, *, days: int, now: datetime | None = None,
    actor_id: int | None = None,
) -> PurgeReport:
    """Remove for good what was deleted more than `days` days before `now` (default: the
    database's clock), in batches of PURGE_BATCH records, each batch one transaction."""
    if now is None:
        now = await trash_db.database_now(conn)
    cutoff = now - timedelta(days=days)
    report = PurgeReport()
    while True:
        async with conn.transaction():
            if not await trash_db.try_purge_lock(conn):
                return report  # another server is purging
            rows = await trash_db.expired_submissions(conn, cutoff, PURGE_BATCH)
            purged, keys = await purge_submission_ids(conn, rows, actor_id, "submission.purge")
        report.submissions += purged
        report.files += await forget_files(conn, store, keys)
        if len(rows) < PURGE_BATCH:
            break
    while True:
        async with conn.transaction():
            if not await trash_db.try_purge_lock(conn):
                return report
            rows = await trash_db.expired_entities(conn, cutoff, PURGE_BATCH)
            report.entities += await purge_entity_ids(conn, rows, actor_id, "entity.purge")
        if len(rows) < PURGE_BATCH:
            break
    return report

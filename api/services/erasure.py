"""Erasing a person (issue 25): a manager erases a case entity with every submission that
created or updated it (their versions, comments, screenings, attachment files), or one
submission (a screening), at once and for good, after typing the case code (or the
submission's short code) to confirm. One transaction: all of it or nothing; the files nothing
else uses are deleted after the commit. One audit line says that an erasure happened, by whom
and how many records, with no content; the review notes of older audit lines of those records
are dropped (migration 0051). Published aggregate counts stay (they hold no person).

Erased records remain in backups made before the erasure until those backups are deleted
(docs/backups.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services.entities import entity_acted_on
from api.services.forms import form_or_404
from api.services.projects import require_writable_project
from api.services.submissions import acted_on
from api.services.trash import forget_files, purge_entity_ids, purge_submission_ids
from db import audits
from db import trash as trash_db
from forms.entities import EntityDataError, normalize_uuid


@dataclass
class ErasureReport:
    entities: int = 0
    submissions: int = 0
    files: int = 0
    fields: int = 0  # submissions whose sensitive fields were erased (retention)
    erased_ids: set[int] = field(default_factory=set)


def submission_code(instance_id: str) -> str:
    """What a manager types to erase one submission: the first 8 characters of its instanceID
    after `uuid:` (shown on the page)."""
    return instance_id.removeprefix("uuid:")[:8]


def _check_confirmation(typed: str | None, expected: str, detail: str) -> None:
    if (typed or "").strip() != expected:
        raise Problem("erasure-not-confirmed", detail)


async def erase_entity(
    conn: asyncpg.Connection, store, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str, confirm: str | None,
) -> ErasureReport:
    """Erase the entity (live or deleted) and every submission that created or updated it;
    `confirm` must be its current label (a case's code)."""
    actor = authorize(actor, "entity.update", project_id)
    authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    try:
        key = normalize_uuid(uuid)
    except EntityDataError as exc:
        raise Problem("entity-not-found") from exc
    report = ErasureReport()
    async with conn.transaction():
        entity = await trash_db.entity_for_erasure(conn, project_id, dataset_name, key,
                                                   scope=row_scope(actor, project_id))
        if entity is None:
            raise Problem("entity-not-found")
        _check_confirmation(confirm, entity["label"],
                            N_("Type the case code exactly to confirm the erasure."))
        keys = await erase_entity_records(conn, actor.id, entity, report)
    report.files = await forget_files(conn, store, keys)
    return report


async def erase_entity_records(
    conn: asyncpg.Connection, actor_id: int | None, entity, report: ErasureReport,
    details: dict | None = None,
) -> list[str]:
    """Inside the caller's transaction, the entity locked: erase it and every submission that
    wrote it, with the one audit line; counts go into `report`. Returns the blob keys for
    `forget_files` after the commit (and the ids of the submissions erased in `report`)."""
    rows = await trash_db.entity_submissions(conn, entity["id"], entity["uuid"])
    await trash_db.mark_ids_deleted(conn, [r["id"] for r in rows])
    submissions, keys = await purge_submission_ids(conn, rows, actor_id, None)
    entities = await purge_entity_ids(conn, [entity], actor_id, None)
    name = entity_acted_on(entity["project_id"], entity["dataset"], entity["uuid"])
    await trash_db.scrub_audit_notes(conn, [name])
    await audits.log_audit(conn, actor_id, "entity.erase", name,
                           {"entities": entities, "submissions": submissions, **(details or {})})
    report.entities += entities
    report.submissions += submissions
    report.erased_ids.update(r["id"] for r in rows)
    return keys


async def erase_submission_records(
    conn: asyncpg.Connection, actor_id: int | None, row, report: ErasureReport,
    details: dict | None = None,
) -> list[str]:
    """Inside the caller's transaction, the submission locked: erase it, one audit line."""
    await trash_db.mark_ids_deleted(conn, [row["id"]])
    submissions, keys = await purge_submission_ids(conn, [row], actor_id, None)
    await audits.log_audit(
        conn, actor_id, "submission.erase",
        acted_on(row["project_id"], row["xml_form_id"], row["instance_id"]),
        {"submissions": submissions, **(details or {})},
    )
    report.submissions += submissions
    report.erased_ids.add(row["id"])
    return keys


async def erase_submission(
    conn: asyncpg.Connection, store, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str, confirm: str | None,
) -> ErasureReport:
    """Erase one submission (live or deleted) for good; an entity it created stays (erase the
    case for that). `confirm` must be `submission_code(instance_id)`."""
    actor = authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    report = ErasureReport()
    async with conn.transaction():
        row = await trash_db.submission_for_erasure(conn, form["id"], instance_id,
                                                    scope=row_scope(actor, project_id))
        if row is None:
            raise Problem("submission-not-found")
        _check_confirmation(confirm, submission_code(instance_id),
                            N_("Type the submission's code exactly to confirm the erasure."))
        keys = await erase_submission_records(conn, actor.id, row, report)
    report.files = await forget_files(conn, store, keys)
    return report

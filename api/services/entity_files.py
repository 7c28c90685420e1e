"""Entity lists where forms and files meet them: publishing a form with an entities block
creates or extends its dataset and links its `{dataset}.csv` attachment; the lists as files
({name}.csv for Collect, entities.csv for people) and their integrity (offline entities).
The entity lists themselves: api/services/entities.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services.entities import (
    dataset_acted_on,
    get_dataset,
    insert_dataset,
    problem_from_data_error,
    property_names,
)
from db import audits
from db import entities as entities_db
from db.scopes import RowScope
from forms.entities import (
    EntityDataError,
    entity_declarations,
    normalize_uuid,
    valid_dataset_name,
    valid_property_name,
)
from forms.submission import SubmissionParseError
from forms.vocabulary import kept_on_phones

# ---------------------------------------------------------------------------------------------
# Publishing a form


async def publish_form_entities(
    conn: asyncpg.Connection, actor_id: int | None, project_id: int, form_def_id: int,
    xform: str,
) -> list[str]:
    """Inside the publishing transaction: create or extend the datasets the form version
    declares, record which actions and fields it uses, and link its `{dataset}.csv`
    attachments. Returns the names of the datasets it writes to."""
    try:
        declarations = entity_declarations(xform)
    except SubmissionParseError:
        declarations = []
    names = []
    for decl in declarations:
        if not valid_dataset_name(decl.dataset):
            raise Problem(
                "entity-form-invalid",
                N_("The entity list name %(name)s in the form is not valid."),
                params={"name": repr(decl.dataset)},
            )
        for prop in decl.properties:
            if not valid_property_name(prop):
                raise Problem(
                    "entity-form-invalid", N_("The save_to property name %(name)s is not valid."),
                    params={"name": repr(prop)},
                )
        dataset = await entities_db.get_dataset(conn, project_id, decl.dataset)
        if dataset is None:
            dataset = await insert_dataset(conn, project_id, decl.dataset, False)
            await audits.log_audit(
                conn, actor_id, "dataset.create", dataset_acted_on(project_id, decl.dataset),
                {"formDefId": form_def_id},
            )
        await entities_db.link_form_def(conn, dataset["id"], form_def_id, decl.actions)
        added = []
        for prop, path in decl.properties.items():
            prop_id, created = await entities_db.add_property(conn, dataset["id"], prop)
            await entities_db.link_property_field(conn, prop_id, form_def_id, "/".join(path))
            if created:
                added.append(prop)
        if added:
            await audits.log_audit(
                conn, actor_id, "dataset.update", dataset_acted_on(project_id, decl.dataset),
                {"properties": added, "formDefId": form_def_id},
            )
        names.append(decl.dataset)
    await entities_db.link_attachments(conn, form_def_id, project_id)
    return names


# ---------------------------------------------------------------------------------------------
# Entity lists as files: {name}.csv for Collect, entities.csv for people, integrity


async def dataset_hash(conn: asyncpg.Connection, dataset_id: int, scope: RowScope) -> str:
    """md5 that changes whenever the list served to a reader of `scope` changes (an entity
    created, updated, deleted or restored; a property added)."""
    state = await entities_db.dataset_state(conn, dataset_id, scope=scope)
    key = json.dumps(
        {"dataset": dataset_id, "entities": state["entities"], "scope": repr(scope),
         "lastChange": state["last_change"].isoformat() if state["last_change"] else None,
         "properties": state["properties"]},
        sort_keys=True,
    )
    return hashlib.md5(key.encode()).hexdigest()


async def attachment_csv(conn: asyncpg.Connection, dataset_id: int, scope: RowScope) -> bytes:
    """The `{list}.csv` Collect downloads: name, label, __version, then the properties; only
    the entities of the reader's scope (an app user tied to a centre: that centre's cases),
    and no closed case (forms/vocabulary.py `kept_on_phones`).
    (Offline entities read __trunkVersion and __branchId from the phone's own copy.)"""
    props = await property_names(conn, dataset_id)
    list_name = await entities_db.dataset_name(conn, dataset_id)
    rows = [r for r in await entities_db.list_entities(conn, dataset_id, scope=scope)
            if kept_on_phones(list_name, r["data"])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "label", "__version", *props])
    for r in reversed(rows):  # oldest first
        writer.writerow([r["uuid"], r["label"], r["version"], *(r["data"].get(p, "") for p in props)])
    return out.getvalue().encode("utf-8")


async def export_csv(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
) -> tuple[bytes, str]:
    """Central's GET .../entities.csv: __id, label, properties, then system columns; and the
    ETag (the list's hash)."""
    actor = authorize(actor, "entity.read", project_id)
    dataset = await get_dataset(conn, project_id, dataset_name)
    props = await property_names(conn, dataset["id"])
    scope = row_scope(actor, project_id)
    rows = await entities_db.list_entities(conn, dataset["id"], scope=scope)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["__id", "label", *props, "__createdAt", "__creatorId", "__creatorName",
                     "__updates", "__updatedAt", "__version"])
    for r in reversed(rows):
        writer.writerow([
            r["uuid"], r["label"], *(r["data"].get(p, "") for p in props),
            _iso(r["created_at"]), r["creator_id"], r["creator_name"], r["updates"],
            _iso(r["updated_at"]), r["version"],
        ])
    await audits.log_audit(
        conn, actor.id, "dataset.entities.export", dataset_acted_on(project_id, dataset_name),
        {"count": len(rows)},
    )
    return out.getvalue().encode("utf-8"), await dataset_hash(conn, dataset["id"], scope)


def _iso(value) -> str:
    if value is None:
        return ""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def integrity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    ids: list[str] | None,
) -> list[dict]:
    """Which of the phone's entities still exist (Collect removes the deleted ones). As in
    Central: for those who may read entities, or who may download a form that reads the
    list (an app user: a form assigned to it)."""
    actor = authorize(actor, "form.download", project_id)
    dataset = await get_dataset(conn, project_id, dataset_name)
    if not actor.can("entity.read", project_id):
        linked = await entities_db.linked_forms(conn, dataset["id"])
        if not any(actor.may_use_form(project_id, f["form_id"]) for f in linked):
            raise Problem("forbidden", N_("No form you may use reads this entity list."))
    uuids = None
    if ids:
        uuids = []
        for raw in ids:
            try:
                uuids.append(normalize_uuid(raw))
            except EntityDataError as exc:
                raise problem_from_data_error(exc) from exc
    scope = row_scope(actor, project_id)
    rows = await entities_db.entity_states(conn, dataset["id"], uuids, scope=scope)
    # A closed case has left the phones: Collect is told it is gone, so it drops its copy.
    off_phones = {r["uuid"] for r in await entities_db.list_entities(conn, dataset["id"], scope=scope)
                  if not kept_on_phones(dataset["name"], r["data"])}
    return [{"uuid": r["uuid"], "deleted": r["deleted"] or r["uuid"] in off_phones} for r in rows]

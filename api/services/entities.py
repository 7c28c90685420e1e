"""Entities (ODK Central's entity lists, "datasets"): what REST, OpenRosa, ingest, publishing
and pages all call. Every function takes the connection first; the caller owns the
transaction (ingest stores a submission and its entity in one).

Behaviour follows ODK Central (lib/model/query/entities.js, lib/resources/entities.js):
- publishing a form with an entities block creates or extends the dataset and its properties,
  and links the form's `{dataset}.csv` attachment to the dataset;
- a submission that declares `meta/entity` creates or updates the entity; an error is logged as
  an `entity.error` audit and never loses the submission; an update whose baseVersion is not
  the current version is applied and recorded as a conflict (soft, or hard when the same
  property changed on the server); offline updates (branchId/trunkVersion) that arrive before
  their predecessor in the branch are held and applied when it arrives;
- `approvalRequired` datasets create entities only when the submission is approved.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from cachetools import LRUCache

from api.auth import Actor, authorize
from api.form_cache import entity_declarations_of_def
from api.i18n import N_
from api.problems import Problem
from api.services.projects import require_writable_project
from db import audits
from db import entities as entities_db
from forms.entities import (
    EntityDataError,
    EntityDeclaration,
    SubmissionEntity,
    diff_versions,
    entity_declarations,
    new_uuid,
    normalize_uuid,
    parse_version,
    submission_entities,
    valid_dataset_name,
    valid_property_name,
    versions_with_conflicts,
)
from forms.submission import SubmissionParseError

REQUIRED = N_("Required parameter %(name)s missing.")
MUST_BE_STRING = N_("%(name)s must be a string.")
_DATA_PROBLEMS = {  # forms/entities.py EntityDataError kinds: (slug, detail)
    "missing": ("entity-parameter-missing", REQUIRED),
    "invalid-uuid": ("entity-parameter-invalid",
                     N_("%(name)s must be a version 4 UUID, not %(value)s.")),
    "not-integer": ("entity-parameter-invalid", N_("%(name)s must be an integer, not %(value)s.")),
}


def problem_from_data_error(exc: EntityDataError) -> Problem:
    slug, detail = _DATA_PROBLEMS.get(exc.kind, ("entity-invalid", None))
    if detail is None:
        return Problem(slug, str(exc), extra={"field": exc.field})
    return Problem(slug, detail, params={"name": exc.field, "value": repr(exc.value)},
                   extra={"field": exc.field})


def dataset_acted_on(project_id: int, name: str) -> str:
    return f"dataset/{project_id}/{name}"


def entity_acted_on(project_id: int, dataset: str, uuid: str) -> str:
    return f"entity/{project_id}/{dataset}/{uuid}"


# ---------------------------------------------------------------------------------------------
# Datasets


async def get_dataset(conn: asyncpg.Connection, project_id: int, name: str) -> asyncpg.Record:
    row = await entities_db.get_dataset(conn, project_id, name)
    if row is None:
        raise Problem("dataset-not-found", N_("No entity list %(name)s in this project."),
                      params={"name": repr(name)})
    return row


async def _insert_dataset(conn, project_id: int, name: str, approval_required: bool):
    try:
        async with conn.transaction():
            return await entities_db.insert_dataset(conn, project_id, name, approval_required)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "datasets_project_name_unique":
            raise Problem("dataset-exists", N_("An entity list %(name)s already exists."),
                          params={"name": repr(name)}) from exc
        if exc.constraint_name == "datasets_project_lower_name_unique":
            other = await entities_db.get_dataset_caseless(conn, project_id, name)
            raise Problem(
                "dataset-name-conflict",
                N_("An entity list named %(other)s exists and %(name)s differs from it only "
                   "in capitalization."),
                params={"other": repr(other["name"]), "name": repr(name)},
            ) from exc
        raise


def _check_dataset_name(name: Any) -> str:
    if not isinstance(name, str) or not valid_dataset_name(name):
        raise Problem(
            "dataset-name-invalid",
            N_("%(name)s is not a valid entity list name: start with a letter or _, then "
               "letters, digits, _ or -; not __ at the start."),
            params={"name": repr(name)},
        )
    return name


def _check_property_name(name: Any) -> str:
    if not isinstance(name, str) or not valid_property_name(name):
        raise Problem(
            "property-name-invalid",
            N_("%(name)s is not a valid property name: start with a letter or _, then "
               "letters, digits, _, - or .; not name, label, or __ at the start."),
            params={"name": repr(name)},
        )
    return name


async def create_dataset(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, name: Any,
    approval_required: bool = False,
) -> asyncpg.Record:
    actor = authorize(actor, "dataset.update", project_id)
    name = _check_dataset_name(name)
    async with conn.transaction():
        row = await _insert_dataset(conn, project_id, name, approval_required)
        await audits.log_audit(
            conn, actor.id, "dataset.create", dataset_acted_on(project_id, name),
            {"approvalRequired": approval_required},
        )
    return row


async def add_property(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    name: Any,
) -> None:
    actor = authorize(actor, "dataset.update", project_id)
    async with conn.transaction():
        dataset = await get_dataset(conn, project_id, dataset_name)
        name = _check_property_name(name)
        _, created = await entities_db.add_property(conn, dataset["id"], name)
        if not created:
            raise Problem("property-exists", N_("The entity list already has a property %(name)s."),
                          params={"name": repr(name)})
        await audits.log_audit(
            conn, actor.id, "dataset.update", dataset_acted_on(project_id, dataset_name),
            {"properties": [name]},
        )


async def set_approval_required(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, name: str, value: bool,
    *, convert: bool = False,
) -> asyncpg.Record:
    """PATCH approvalRequired. With convert=true, turning approval off creates the entities of
    the submissions that were waiting for approval (Central's ?convert=true)."""
    actor = authorize(actor, "dataset.update", project_id)
    async with conn.transaction():
        dataset = await get_dataset(conn, project_id, name)
        row = await entities_db.set_approval_required(conn, dataset["id"], value)
        await audits.log_audit(
            conn, actor.id, "dataset.update", dataset_acted_on(project_id, name),
            {"approvalRequired": value},
        )
        if convert and not value:
            for version_id in await entities_db.pending_submission_versions(conn, dataset["id"]):
                await _process_stored_version(conn, version_id, event="convert")
    return row


async def dataset_metadata(conn: asyncpg.Connection, dataset) -> dict[str, Any]:
    """Central's GET .../datasets/{name}: the dataset, its forms and properties."""
    props = await entities_db.list_properties(conn, dataset["id"])
    sources = await entities_db.source_forms(conn, dataset["id"])
    linked = await entities_db.linked_forms(conn, dataset["id"])
    return {
        "dataset": dataset,
        "properties": props,
        "source_forms": [{"xmlFormId": r["xml_form_id"], "name": r["title"]} for r in sources],
        "linked_forms": [{"xmlFormId": r["xml_form_id"], "name": r["title"]} for r in linked],
    }


async def property_names(conn: asyncpg.Connection, dataset_id: int) -> list[str]:
    return [p["name"] for p in await entities_db.list_properties(conn, dataset_id)]


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
            dataset = await _insert_dataset(conn, project_id, decl.dataset, False)
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
# Entities through the API


def _check_body_keys(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if not isinstance(body, Mapping):
        raise Problem("json-invalid", N_("The body must be a JSON object."))
    unexpected = [k for k in body if k not in allowed]
    if unexpected:
        raise Problem(
            "entity-attributes-unexpected",
            N_("Expected parameters: (%(expected)s). Got (%(got)s)."),
            params={"expected": ", ".join(allowed), "got": ", ".join(body)},
        )


def _label_of(body: Mapping[str, Any], *, required: bool) -> str | None:
    label = body.get("label")
    if label is None:
        if required:
            raise Problem("entity-parameter-missing", REQUIRED, params={"name": "label"},
                          extra={"field": "label"})
        return None
    if not isinstance(label, str):
        raise Problem("entity-parameter-invalid", MUST_BE_STRING, params={"name": "label"},
                      extra={"field": "label"})
    if not label.strip():
        raise Problem("entity-invalid", N_("The entity is invalid. Label cannot be blank."))
    return label


def _data_of(body: Mapping[str, Any], properties: list[str]) -> dict[str, str] | None:
    data = body.get("data")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise Problem("entity-parameter-invalid", N_("data must be an object."),
                      extra={"field": "data"})
    known = set(properties)
    for key, value in data.items():
        if not isinstance(value, str):
            raise Problem("entity-parameter-invalid",
                          N_("Invalid input data type: expected (%(name)s) to be (string)."),
                          params={"name": key}, extra={"field": key})
        if key not in known:
            raise Problem(
                "entity-invalid",
                N_("The entity is invalid. You specified the dataset property [%(name)s] which "
                   "does not exist."),
                params={"name": key},
            )
    return dict(data)


@dataclass(frozen=True)
class NewEntity:
    uuid: str
    label: str
    data: dict[str, str]


def parse_new_entity(body: Mapping[str, Any], properties: list[str]) -> NewEntity:
    _check_body_keys(body, ("label", "uuid", "data"))
    raw_uuid = body.get("uuid")
    if raw_uuid is not None and not isinstance(raw_uuid, str):
        raise Problem("entity-parameter-invalid", MUST_BE_STRING, params={"name": "uuid"},
                      extra={"field": "uuid"})
    try:
        uuid = normalize_uuid(raw_uuid) if raw_uuid else new_uuid()
    except EntityDataError as exc:
        raise problem_from_data_error(exc) from exc
    label = _label_of(body, required=True)
    return NewEntity(uuid, label, _data_of(body, properties) or {})


async def _refuse_taken_uuids(conn, uuids: list[str]) -> None:
    for uuid in uuids:
        found = await entities_db.find_entity_uuid(conn, uuid)
        if found is None:
            continue
        if found["deleted_at"] is not None:
            raise Problem(
                "entity-uuid-deleted",
                N_("The following UUID(s) cannot be used because they are associated with "
                   "deleted Entities: (%(uuid)s)."),
                params={"uuid": uuid},
            )
        raise Problem("entity-exists", N_("A resource already exists with uuid value(s) of %(uuid)s."),
                      params={"uuid": uuid})


async def create_entity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    body: Mapping[str, Any], user_agent: str | None,
) -> str:
    """POST one entity; returns its uuid."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    async with conn.transaction():
        dataset = await get_dataset(conn, project_id, dataset_name)
        new = parse_new_entity(body, await property_names(conn, dataset["id"]))
        await entities_db.lock_entity_uuid(conn, new.uuid)
        await _refuse_taken_uuids(conn, [new.uuid])
        row = await entities_db.insert_entity(
            conn, dataset_id=dataset["id"], uuid=new.uuid, creator_id=actor.id,
            label=new.label, data=new.data, data_received={**new.data, "label": new.label},
            user_agent=user_agent, source_type="api",
            audit_acted_on=entity_acted_on(project_id, dataset_name, new.uuid),
            audit_details={"entity": {"uuid": new.uuid, "dataset": dataset_name}},
        )
        if row is None:
            raise Problem("entity-exists", N_("A resource already exists with uuid %(uuid)s."),
                          params={"uuid": new.uuid})
    return new.uuid


async def create_entities(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    entities: Any, source: Any, user_agent: str | None,
) -> int:
    """POST {"entities": [...], "source": {"name", "size"}}: all or none, one statement."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    if not isinstance(entities, list) or not entities:
        raise Problem(
            "entity-attributes-unexpected",
            N_("Expected parameters: (entities: [...]). Got (empty array).")
            if isinstance(entities, list)
            else N_("Expected parameters: (entities: [...]). Got (not an array)."),
        )
    if not isinstance(source, Mapping) or not source.get("name"):
        raise Problem("entity-parameter-missing", REQUIRED, params={"name": "source.name"},
                      extra={"field": "source.name"})
    if not isinstance(source["name"], str):
        raise Problem("entity-parameter-invalid", MUST_BE_STRING, params={"name": "source.name"},
                      extra={"field": "source.name"})
    size = source.get("size")
    if size is not None and (not isinstance(size, int | float) or isinstance(size, bool)):
        raise Problem("entity-parameter-invalid", N_("%(name)s must be a number."),
                      params={"name": "source.size"}, extra={"field": "source.size"})
    async with conn.transaction():
        dataset = await get_dataset(conn, project_id, dataset_name)
        properties = await property_names(conn, dataset["id"])
        parsed = [parse_new_entity(e, properties) for e in entities]
        uuids = [p.uuid for p in parsed]
        if len(set(uuids)) != len(uuids):
            raise Problem("entity-exists", N_("The request gives the same uuid twice."))
        await _refuse_taken_uuids(conn, uuids)
        details = {"name": source["name"], "count": len(parsed), "userAgent": user_agent,
                   **({"size": size} if size is not None else {})}
        try:
            async with conn.transaction():
                await entities_db.insert_entities_bulk(
                    conn, dataset["id"], [(p.uuid, p.label, p.data) for p in parsed],
                    creator_id=actor.id, user_agent=user_agent, source_details=details,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "entities_uuid_unique":
                raise Problem("entity-exists", N_("An entity with one of these uuids exists.")) from exc
            raise
        await audits.log_audit(
            conn, actor.id, "entity.bulk.create", dataset_acted_on(project_id, dataset_name),
            {"source": details},
        )
    return len(parsed)


async def get_entity(
    conn: asyncpg.Connection, project_id: int, dataset_name: str, uuid: str,
    *, deleted: bool = False,
):
    dataset = await get_dataset(conn, project_id, dataset_name)
    try:
        key = normalize_uuid(uuid)
    except EntityDataError as exc:
        raise Problem("entity-not-found") from exc
    row = await entities_db.get_entity(conn, dataset["id"], key, deleted=deleted)
    if row is None:
        raise Problem("entity-not-found", N_("No entity %(uuid)s in the entity list %(name)s."),
                      params={"uuid": uuid, "name": repr(dataset_name)})
    return dataset, row


async def read_entity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str, action: str = "entity.read",
):
    """An entity for reading (audited)."""
    actor = authorize(actor, "entity.read", project_id)
    dataset, row = await get_entity(conn, project_id, dataset_name, uuid)
    await audits.log_audit(
        conn, actor.id, action, entity_acted_on(project_id, dataset_name, row["uuid"]),
    )
    return dataset, row


async def list_entities(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    *, deleted: bool = False,
) -> list[asyncpg.Record]:
    actor = authorize(actor, "entity.read", project_id)
    dataset = await get_dataset(conn, project_id, dataset_name)
    rows = await entities_db.list_entities(conn, dataset["id"], deleted=deleted)
    await audits.log_audit(
        conn, actor.id, "entity.list", dataset_acted_on(project_id, dataset_name),
        {"count": len(rows), **({"deleted": True} if deleted else {})},
    )
    return rows


async def search_entities(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    properties: Mapping[str, str], label: str | None, *, limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """A page of a list's live entities, newest first, whose current properties have the given
    values and whose label contains `label` (the case list's centre, stage, status and code
    search); and how many match."""
    actor = authorize(actor, "entity.read", project_id)
    dataset = await get_dataset(conn, project_id, dataset_name)
    label = (label or "").strip() or None
    rows, matching = await entities_db.search_entities(
        conn, dataset["id"], dict(properties), label, limit=limit, offset=offset)
    await audits.log_audit(
        conn, actor.id, "entity.list", dataset_acted_on(project_id, dataset_name),
        {"count": len(rows), "matching": matching, "offset": offset,
         **({"properties": dict(properties)} if properties else {}),
         **({"label": label} if label else {})},
    )
    return rows, matching


async def update_entity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str, body: Mapping[str, Any], *, base_version: str | None, force: bool,
    resolve: bool, user_agent: str | None,
) -> str:
    """PATCH: a new version from label and/or data, when baseVersion is the current version
    (or with force); ?resolve=true also marks the entity's conflict resolved."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    async with conn.transaction():
        dataset, row = await get_entity(conn, project_id, dataset_name, uuid)
        await entities_db.lock_entity_uuid(conn, row["uuid"])
        dataset, row = await get_entity(conn, project_id, dataset_name, uuid)
        if resolve and row["conflict"] is None:
            raise Problem("entity-no-conflict", N_("The Entity doesn't have any conflict."))
        current = row["version"]
        if base_version != str(current) and not force:
            raise Problem(
                "entity-version-conflict",
                N_("Current version of the Entity is '%(current)s' and you provided "
                   "'%(provided)s'. Please correct the version number or pass '?force=true' "
                   "in the URL to forcefully update the Entity."),
                params={"current": current, "provided": base_version},
                extra={"current": str(current), "provided": base_version},
            )
        if resolve and not body:
            await _resolve(conn, actor, project_id, dataset_name, row)
            return row["uuid"]
        _check_body_keys(body, ("label", "data"))
        label = _label_of(body, required=False)
        data = _data_of(body, await property_names(conn, dataset["id"]))
        if label is None and data is None:
            raise Problem("entity-invalid", N_("The entity is invalid. No entity data or label "
                                              "provided."))
        received = {**(data or {}), **({"label": label} if label is not None else {})}
        def_id = await entities_db.insert_version(
            conn, entity_id=row["id"], version=current + 1, base_version=current,
            label=label if label is not None else row["label"],
            data={**row["data"], **(data or {})}, data_received=received,
            conflict=row["conflict"], conflicting_properties=None, creator_id=actor.id,
            user_agent=user_agent, source_type="api",
        )
        await audits.log_audit(
            conn, actor.id, "entity.update.version",
            entity_acted_on(project_id, dataset_name, row["uuid"]),
            {"entity": {"uuid": row["uuid"], "dataset": dataset_name},
             "entityId": row["id"], "entityDefId": def_id, "baseVersion": current,
             **({"force": True} if force and base_version != str(current) else {})},
        )
        if resolve:
            _, row = await get_entity(conn, project_id, dataset_name, uuid)
            await _resolve(conn, actor, project_id, dataset_name, row)
    return row["uuid"]


async def _resolve(conn, actor: Actor, project_id: int, dataset_name: str, row) -> None:
    await entities_db.clear_conflict(conn, row["id"])
    await audits.log_audit(
        conn, actor.id, "entity.update.resolve",
        entity_acted_on(project_id, dataset_name, row["uuid"]),
        {"entity": {"uuid": row["uuid"], "dataset": dataset_name},
         "entityId": row["id"], "entityDefId": row["def_id"]},
    )


async def delete_entity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str,
) -> None:
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    async with conn.transaction():
        _, row = await get_entity(conn, project_id, dataset_name, uuid)
        await entities_db.mark_deleted(conn, row["id"])
        await audits.log_audit(
            conn, actor.id, "entity.delete", entity_acted_on(project_id, dataset_name, row["uuid"]),
            {"entity": {"uuid": row["uuid"], "dataset": dataset_name}, "entityId": row["id"]},
        )


async def restore_entity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str,
) -> None:
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    async with conn.transaction():
        _, row = await get_entity(conn, project_id, dataset_name, uuid, deleted=True)
        await entities_db.mark_restored(conn, row["id"])
        await audits.log_audit(
            conn, actor.id, "entity.restore",
            entity_acted_on(project_id, dataset_name, row["uuid"]),
            {"entity": {"uuid": row["uuid"], "dataset": dataset_name}, "entityId": row["id"]},
        )


def _source_of(d) -> dict[str, Any]:
    if d["source_type"] == "submission":
        return {
            "submission": {
                "instanceId": d["submission_instance_id"],
                "xmlFormId": d["submission_form"],
                "versionInstanceId": d["submission_version_instance_id"],
            },
            **(d["source_details"] or {}),
        }
    if d["source_type"] == "bulk":
        return {"name": (d["source_details"] or {}).get("name"), **(d["source_details"] or {})}
    return dict(d["source_details"] or {})


async def entity_versions(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str, *, relevant_to_conflict: bool = False,
) -> list[dict[str, Any]]:
    """Every version, oldest first, with Central's conflict details."""
    _, row = await read_entity(conn, actor, project_id, dataset_name, uuid,
                               action="entity.version.read")
    defs = await entities_db.list_defs(conn, row["id"])
    last_resolve = await audits.last_details_of(
        conn, entity_acted_on(project_id, dataset_name, row["uuid"]), "entity.update.resolve"
    )
    resolved = last_resolve.get("entityDefId") if last_resolve else None
    plain = [
        {**dict(d), "data": d["data"], "data_received": d["data_received"],
         "source": _source_of(d)}
        for d in defs
    ]
    out = versions_with_conflicts(plain, resolved)
    if relevant_to_conflict:
        out = [v for v in out if v["relevantToConflict"]]
    return out


async def entity_diffs(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str,
) -> list[list[dict[str, Any]]]:
    _, row = await read_entity(conn, actor, project_id, dataset_name, uuid,
                               action="entity.version.read")
    defs = await entities_db.list_defs(conn, row["id"])
    return diff_versions([{"label": d["label"], **d["data"]} for d in defs])


def _visit_day(d) -> str:
    received = d["data_received"] or {}
    for key in ("last_visit", "opened"):
        if received.get(key):
            return str(received[key])[:10]
    return d["created_at"].date().isoformat()


async def entity_timeline(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str,
) -> dict[str, Any]:
    """A case's timeline for coordinators: every version (the intake, each visit, each edit
    through the API) in the order the visits happened (their own date: `last_visit`, else
    `opened`, else when the server received it; then version), with what that visit said and
    the state it left the case in."""
    _, row = await read_entity(conn, actor, project_id, dataset_name, uuid,
                               action="entity.timeline.read")
    defs = await entities_db.list_defs(conn, row["id"])
    versions = {v["version"]: v for v in versions_with_conflicts(
        [dict(d) for d in defs], None)}
    entries = []
    for d in defs:
        source = _source_of(d)
        entries.append({
            "version": d["version"],
            "baseVersion": d["base_version"],
            "date": _visit_day(d),
            "receivedAt": d["created_at"],
            "kind": ("created" if d["root"] else "updated") + (
                "" if d["source_type"] == "submission" else f" ({d['source_type']})"),
            "xmlFormId": source.get("submission", {}).get("xmlFormId"),
            "instanceId": source.get("submission", {}).get("instanceId"),
            "creatorId": d["creator_id"],
            "creatorName": d["creator_name"],
            "received": d["data_received"],
            "state": {"label": d["label"], **d["data"]},
            "conflict": versions[d["version"]]["conflict"],
            "conflictingProperties": d["conflicting_properties"],
        })
    entries.sort(key=lambda e: (e["date"], e["version"]))
    return {
        "uuid": row["uuid"],
        "label": row["label"],
        "currentVersion": row["version"],
        "conflict": row["conflict"],
        "current": {"label": row["label"], **row["data"]},
        "entries": entries,
    }


# ---------------------------------------------------------------------------------------------
# Entity lists as files: {name}.csv for Collect, entities.csv for people, integrity


async def dataset_hash(conn: asyncpg.Connection, dataset_id: int) -> str:
    """md5 that changes whenever the served list changes (an entity created, updated, deleted
    or restored; a property added)."""
    state = await entities_db.dataset_state(conn, dataset_id)
    key = json.dumps(
        {"dataset": dataset_id, "entities": state["entities"],
         "lastChange": state["last_change"].isoformat() if state["last_change"] else None,
         "properties": state["properties"]},
        sort_keys=True,
    )
    return hashlib.md5(key.encode()).hexdigest()


async def attachment_csv(conn: asyncpg.Connection, dataset_id: int) -> bytes:
    """The `{list}.csv` Collect downloads: name, label, __version, then the properties.
    (Offline entities read __trunkVersion and __branchId from the phone's own copy.)"""
    props = await property_names(conn, dataset_id)
    rows = await entities_db.list_entities(conn, dataset_id)
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
    rows = await entities_db.list_entities(conn, dataset["id"])
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
    return out.getvalue().encode("utf-8"), await dataset_hash(conn, dataset["id"])


def _iso(value) -> str:
    if value is None:
        return ""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def integrity(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    ids: list[str] | None,
) -> list[asyncpg.Record]:
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
    return await entities_db.entity_states(conn, dataset["id"], uuids)


# ---------------------------------------------------------------------------------------------
# Submissions


@dataclass(frozen=True)
class StoredVersion:
    """A stored submission version, as entity processing needs it."""

    project_id: int
    xml_form_id: str
    form_def_id: int
    submission_id: int
    version_id: int
    instance_id: str
    xml: bytes
    submitter_id: int | None
    user_agent: str | None
    review_state: str | None


async def process_submission(
    conn: asyncpg.Connection, stored: StoredVersion, declarations: list[EntityDeclaration],
    *, event: str, fresh: bool = False,
) -> None:
    """Create or update the entities a stored submission declares, inside the caller's
    transaction. An entity error is logged as `entity.error` and the submission stays stored,
    as in Central: every refusal is decided before anything is written, so no savepoint is
    needed. `event`: "create" (a new submission or edit), "approval", "convert" (approval
    turned off) or "backlog" (a held offline update whose predecessor arrived). `fresh`: the
    submission was inserted in this transaction (so it cannot have written entities yet)."""
    if not declarations:
        return
    if not fresh and event != "backlog" and await entities_db.submission_processed(
        conn, stored.submission_id
    ):
        return
    try:
        found = submission_entities(stored.xml, declarations)
    except SubmissionParseError:
        return
    for item in found:
        try:
            await _process_one(conn, stored, item, event)
        except (Problem, EntityDataError) as exc:
            problem = problem_from_data_error(exc) if isinstance(exc, EntityDataError) else exc
            await _log_entity_error(conn, stored, problem, item.dataset)


@dataclass(frozen=True)
class SingleCreate:
    """A submission whose only entity work is creating one entity, checked before it is
    stored, so that both go in one statement."""

    dataset_id: int
    dataset_name: str
    uuid: str
    label: str
    data: dict[str, str]
    received: dict[str, str]
    branch_id: str | None


async def plan_single_create(
    conn: asyncpg.Connection, form_def_id: int, xml: bytes,
    declarations: list[EntityDeclaration],
) -> SingleCreate | None:
    """The entity creation a new submission asks for, when it is the simple case (one entity,
    create only, valid, to a dataset the form may create in); None for anything else, which
    goes the general way (process_submission in a transaction, errors audited)."""
    if len(declarations) != 1:
        return None
    try:
        found = submission_entities(xml, declarations)
    except SubmissionParseError:
        return None
    if len(found) != 1 or not found[0].create or found[0].update:
        return None
    item = found[0]
    dataset = (await _links_of(conn, form_def_id)).get(item.dataset)
    if dataset is None or "create" not in dataset["actions"]:
        return None
    if item.label is None or not item.label.strip():
        return None
    try:
        uuid = normalize_uuid(item.id, "id")
        branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    except EntityDataError:
        return None
    return SingleCreate(dataset["id"], dataset["name"], uuid, item.label, item.data,
                        _received(item), branch_id)


async def store_submission_with_entity(
    conn: asyncpg.Connection, submission_args: list, plan: SingleCreate, stored: StoredVersion,
) -> tuple[int, int] | None:
    """Store a new submission and create its entity in one statement. Returns (submission id,
    version id), or None when the instanceID exists (nothing stored). When the entity could
    not be created because its uuid is taken, that is audited as entity.error, as in Central;
    when its dataset requires approval, it is created on approval."""
    row = await entities_db.insert_submission_with_entity(
        conn, submission_args, dataset_id=plan.dataset_id, uuid=plan.uuid, label=plan.label,
        data=plan.data, data_received=plan.received, branch_id=plan.branch_id,
        source_details={"event": "create"},
        audit_acted_on=entity_acted_on(stored.project_id, plan.dataset_name, plan.uuid),
        audit_details={"entity": {"uuid": plan.uuid, "dataset": plan.dataset_name}},
    )
    if row is None:
        return None
    if row["entity_id"] is None and not await entities_db.approval_required(conn, plan.dataset_id):
        try:
            await _refuse_taken_uuids(conn, [plan.uuid])
        except Problem as exc:
            await _log_entity_error(conn, replace(stored, submission_id=row["submission_id"],
                                                  version_id=row["version_id"]),
                                    exc, plan.dataset_name)
    return row["submission_id"], row["version_id"]


async def _log_entity_error(conn, stored: StoredVersion, problem: Problem, dataset: str) -> None:
    await audits.log_audit(
        conn, stored.submitter_id, "entity.error",
        f"submission/{stored.project_id}/{stored.xml_form_id}/{stored.instance_id}",
        {"submissionId": stored.submission_id, "submissionDefId": stored.version_id,
         "errorMessage": problem.detail, "problem": problem.slug, "dataset": dataset},
    )


# Which datasets a form version writes to, with its actions: fixed at publishing, so cached
# for good (a dataset's approvalRequired, which can change, is read by the statements).
_form_def_links: LRUCache[int, dict[str, dict[str, Any]]] = LRUCache(maxsize=10_000)


async def _links_of(conn, form_def_id: int) -> dict[str, dict[str, Any]]:
    links = _form_def_links.get(form_def_id)
    if links is None:
        rows = await entities_db.datasets_of_form_def(conn, form_def_id)
        links = {r["name"]: {"id": r["id"], "name": r["name"], "actions": list(r["actions"])}
                 for r in rows}
        _form_def_links[form_def_id] = links
    return links


async def _process_one(conn, stored: StoredVersion, item: SubmissionEntity, event: str) -> None:
    if not item.dataset.strip():
        raise Problem("entity-parameter-missing", REQUIRED, params={"name": "dataset"})
    dataset = (await _links_of(conn, stored.form_def_id)).get(item.dataset)
    if dataset is None:
        raise Problem(
            "submission-dataset-not-found",
            N_("The dataset (%(name)s) specified in the submission does not exist."),
            params={"name": item.dataset},
        )
    for action, asked in (("create", item.create), ("update", item.update)):
        if asked and action not in dataset["actions"]:
            raise Problem(
                "entity-action-not-permitted",
                N_("The submission attempts an entity %(action)s, but the form does not "
                   "permit that action. The form permits: %(actions)s."),
                params={"action": action, "actions": ", ".join(dataset["actions"])},
            )
    uuid = normalize_uuid(item.id, "id")
    if item.update:  # a creation needs no lock: its insert refuses a taken uuid by itself
        await entities_db.lock_entity_uuid(conn, uuid)
        try:
            await _update_from_submission(conn, stored, dataset, uuid, item, event)
            return
        except Problem as exc:
            if not (item.create and exc.slug == "submission-entity-not-found"):
                raise
    if item.create:
        await _create_from_submission(conn, stored, dataset, uuid, item, event)


def _received(item: SubmissionEntity) -> dict[str, str]:
    label = item.label if item.label is not None and item.label.strip() else None
    return {**item.data, **({"label": label} if label is not None else {})}


async def _create_from_submission(conn, stored, dataset, uuid, item, event) -> None:
    """Without approval required, a submission creates its entity when it arrives; with it,
    when it is approved (or approval is turned off with convert)."""
    approving = event in ("approval", "convert")
    if approving and not await entities_db.approval_required(conn, dataset["id"]):
        if event == "approval":
            return  # created when it arrived
    if item.label is None or not item.label.strip():
        raise Problem("entity-parameter-missing", REQUIRED, params={"name": "label"})
    branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    row = await entities_db.insert_entity(
        conn, dataset_id=dataset["id"], uuid=uuid, creator_id=stored.submitter_id,
        label=item.label, data=item.data, data_received=_received(item),
        user_agent=stored.user_agent, source_type="submission",
        source_details={"event": event}, submission_id=stored.submission_id,
        submission_version_id=stored.version_id, branch_id=branch_id,
        unless_approval_required=not approving,
        audit_acted_on=entity_acted_on(stored.project_id, dataset["name"], uuid),
        audit_details={"entity": {"uuid": uuid, "dataset": dataset["name"]},
                       "submissionId": stored.submission_id,
                       "submissionDefId": stored.version_id},
    )
    if row is None:
        await _refuse_taken_uuids(conn, [uuid])
        return  # not taken: the dataset requires approval, so it is created when approved
    await _apply_next_held(conn, uuid, branch_id, 0)


async def _update_from_submission(conn, stored, dataset, uuid, item, event) -> None:
    if event in ("approval", "convert"):
        return  # updates apply when the submission arrives, approved or not (as Central)
    base_version = parse_version(item.base_version, "baseVersion")
    if base_version is None:
        raise EntityDataError("missing", "baseVersion", "Required parameter baseVersion missing.")
    trunk_version = parse_version(item.trunk_version, "trunkVersion")
    branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    if trunk_version is not None and branch_id is None:
        raise EntityDataError("missing", "branchId", "Required parameter branchId missing.")
    server = await entities_db.get_entity(conn, dataset["id"], uuid)
    if server is None:
        if await entities_db.get_entity(conn, dataset["id"], uuid, deleted=True) is not None:
            raise Problem("entity-deleted", N_("The entity with UUID (%(uuid)s) has been deleted."),
                          params={"uuid": uuid})
        raise Problem(
            "submission-entity-not-found",
            N_("The entity with UUID (%(uuid)s) specified in the submission does not exist "
               "in the dataset (%(name)s)."),
            params={"uuid": uuid, "name": dataset["name"]},
        )
    if branch_id is None or base_version == 1 or base_version == trunk_version:
        base = await entities_db.get_def_by_version(conn, server["id"], base_version)
    else:  # the middle of an offline branch: the base is this branch's previous update
        base = await entities_db.get_def_in_branch(conn, server["id"], branch_id, base_version - 1)
        if base is None:
            await entities_db.hold_submission(conn, stored.version_id, uuid, branch_id, base_version)
            await audits.log_audit(
                conn, stored.submitter_id, "submission.backlog.hold",
                f"submission/{stored.project_id}/{stored.xml_form_id}/{stored.instance_id}",
                {"submissionId": stored.submission_id, "submissionDefId": stored.version_id},
            )
            return
    if base is None:
        raise Problem(
            "entity-base-version-not-found",
            N_("Base version (%(version)s) does not exist for entity UUID (%(uuid)s) in "
               "dataset (%(name)s)."),
            params={"version": base_version, "uuid": uuid, "name": dataset["name"]},
        )
    if trunk_version is not None and trunk_version > server["version"]:
        raise Problem(
            "entity-base-version-not-found",
            N_("Base version (trunkVersion=%(version)s) does not exist for entity UUID "
               "(%(uuid)s) in dataset (%(name)s)."),
            params={"version": trunk_version, "uuid": uuid, "name": dataset["name"]},
        )
    received = _received(item)
    conflict = server["conflict"]
    conflicting: list[str] | None = None
    if base["version"] != server["version"]:
        # what the server changed since the writer's base; the writer's changes to the same
        # properties (with another value) are a hard conflict, any other update a soft one
        server_now = {**server["data"], "label": server["label"]}
        base_then = {**base["data"], "label": base["label"]}
        server_changed = {k: server_now[k] for k in server_now
                          if k not in base_then or base_then[k] != server_now[k]}
        conflicting = [k for k in received if k in server_changed and received[k] != server_changed[k]]
        if conflict != "hard":
            conflict = "hard" if conflicting else "soft"
    elif branch_id is not None and await entities_db.branch_interrupted(
        conn, server["id"], branch_id, trunk_version or 1
    ):
        if conflict != "hard":
            conflict = "soft"
    def_id = await entities_db.insert_version(
        conn, entity_id=server["id"], version=server["version"] + 1,
        base_version=base["version"],
        label=received.get("label", server["label"]),
        data={**server["data"], **item.data}, data_received=received, conflict=conflict,
        conflicting_properties=conflicting, creator_id=stored.submitter_id,
        user_agent=stored.user_agent, source_type="submission", source_details={"event": event},
        submission_id=stored.submission_id, submission_version_id=stored.version_id,
        trunk_version=trunk_version, branch_id=branch_id,
        branch_base_version=base_version if branch_id is not None else None,
    )
    await audits.log_audit(
        conn, stored.submitter_id, "entity.update.version",
        entity_acted_on(stored.project_id, dataset["name"], uuid),
        {"entity": {"uuid": uuid, "dataset": dataset["name"]}, "entityId": server["id"],
         "entityDefId": def_id, "submissionId": stored.submission_id,
         "submissionDefId": stored.version_id, "baseVersion": base["version"],
         **({"conflict": conflict} if conflict and conflict != server["conflict"] else {})},
    )
    if branch_id is not None:
        await _apply_next_held(conn, uuid, branch_id, base_version)


async def _apply_next_held(conn, uuid: str, branch_id: str | None, branch_base: int) -> None:
    """A held offline update that follows the one just applied in its branch goes next."""
    if branch_id is None:
        return
    version_id = await entities_db.take_next_held(conn, uuid, branch_id, branch_base + 1)
    if version_id is not None:
        await _process_stored_version(conn, version_id, event="backlog")


async def stored_version(conn, version_id: int) -> StoredVersion | None:
    row = await entities_db.get_submission_version(conn, version_id)
    return _stored(row) if row is not None else None


def _stored(row) -> StoredVersion:
    return StoredVersion(
        project_id=row["project_id"], xml_form_id=row["xml_form_id"],
        form_def_id=row["form_def_id"], submission_id=row["submission_id"],
        version_id=row["id"], instance_id=row["instance_id"], xml=bytes(row["xml"]),
        submitter_id=row["submitter_id"], user_agent=row["user_agent"],
        review_state=row["review_state"],
    )


async def _process_stored_version(conn, version_id: int, *, event: str) -> None:
    row = await entities_db.get_submission_version(conn, version_id)
    if row is None:
        return
    declarations = await entity_declarations_of_def(conn, row["form_def_id"])
    await process_submission(conn, _stored(row), declarations, event=event)


async def submission_approved(conn: asyncpg.Connection, submission_id: int) -> None:
    """A submission was approved (inside the review's transaction): create the entities of
    approvalRequired datasets that it declares."""
    row = await entities_db.get_current_submission_version(conn, submission_id)
    if row is None:
        return
    declarations = await entity_declarations_of_def(conn, row["form_def_id"])
    await process_submission(conn, _stored(row), declarations, event="approval")

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import require_cases_in_scope, row_scope
from api.services.projects import require_writable_project
from db import audits
from db import entities as entities_db
from forms.entities import (
    EntityDataError,
    diff_versions,
    new_uuid,
    normalize_uuid,
    valid_dataset_name,
    valid_property_name,
    versions_with_conflicts,
)

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


async def insert_dataset(conn, project_id: int, name: str, approval_required: bool):
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
        row = await insert_dataset(conn, project_id, name, approval_required)
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


async def refuse_taken_uuids(conn, uuids: list[str]) -> None:
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
        require_cases_in_scope(actor, project_id, [new.data])
        await entities_db.lock_entity_uuid(conn, new.uuid)
        await refuse_taken_uuids(conn, [new.uuid])
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
        require_cases_in_scope(actor, project_id, [new.data for new in parsed])
        uuids = [p.uuid for p in parsed]
        if len(set(uuids)) != len(uuids):
            raise Problem("entity-exists", N_("The request gives the same uuid twice."))
        await refuse_taken_uuids(conn, uuids)
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
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str, *, deleted: bool = False,
):
    """The entity in the actor's scope (api/scopes.py); out of it: not found, as if missing."""
    dataset = await get_dataset(conn, project_id, dataset_name)
    try:
        key = normalize_uuid(uuid)
    except EntityDataError as exc:
        raise Problem("entity-not-found") from exc
    row = await entities_db.get_entity(conn, dataset["id"], key, deleted=deleted,
                                       scope=row_scope(actor, project_id))
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
    dataset, row = await get_entity(conn, actor, project_id, dataset_name, uuid)
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
    rows = await entities_db.list_entities(conn, dataset["id"], deleted=deleted,
                                           scope=row_scope(actor, project_id))
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
        conn, dataset["id"], dict(properties), label, limit=limit, offset=offset,
        scope=row_scope(actor, project_id))
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
        dataset, row = await get_entity(conn, actor, project_id, dataset_name, uuid)
        await entities_db.lock_entity_uuid(conn, row["uuid"])
        dataset, row = await get_entity(conn, actor, project_id, dataset_name, uuid)
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
        require_cases_in_scope(actor, project_id, [data] if data and "centre" in data else [])
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
            _, row = await get_entity(conn, actor, project_id, dataset_name, uuid)
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
        _, row = await get_entity(conn, actor, project_id, dataset_name, uuid)
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
        _, row = await get_entity(conn, actor, project_id, dataset_name, uuid, deleted=True)
        await entities_db.mark_restored(conn, row["id"])
        await audits.log_audit(
            conn, actor.id, "entity.restore",
            entity_acted_on(project_id, dataset_name, row["uuid"]),
            {"entity": {"uuid": row["uuid"], "dataset": dataset_name}, "entityId": row["id"]},
        )


def source_of(d) -> dict[str, Any]:
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
         "source": source_of(d)}
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

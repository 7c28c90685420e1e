"""Entity lists (datasets) and entities, as ODK Central's REST API serves them:

GET    /v1/projects/{pid}/datasets                              entity lists
POST   /v1/projects/{pid}/datasets                              {"name", "approvalRequired"}
GET    /v1/projects/{pid}/datasets/{name}                       with properties and forms
PATCH  /v1/projects/{pid}/datasets/{name}                       {"approvalRequired"} (?convert=)
POST   /v1/projects/{pid}/datasets/{name}/properties            {"name"}
GET    /v1/projects/{pid}/datasets/{name}/entities              (?deleted=true)
POST   /v1/projects/{pid}/datasets/{name}/entities              one, or {"entities", "source"}
GET    /v1/projects/{pid}/datasets/{name}/entities.csv
GET    /v1/projects/{pid}/datasets/{name}/entities/{uuid}
PATCH  /v1/projects/{pid}/datasets/{name}/entities/{uuid}       ?baseVersion= | ?force=true
                                                                 (?resolve=true)
DELETE /v1/projects/{pid}/datasets/{name}/entities/{uuid}
POST   /v1/projects/{pid}/datasets/{name}/entities/{uuid}/restore
GET    /v1/projects/{pid}/datasets/{name}/entities/{uuid}/versions  (?relevantToConflict=true)
GET    /v1/projects/{pid}/datasets/{name}/entities/{uuid}/diffs
GET    /v1/projects/{pid}/datasets/{name}/entities/{uuid}/audits
GET    /v1/projects/{pid}/datasets/{name}/entities/{uuid}/timeline  (ours: a case's visits in order)
GET    /v1/projects/{pid}/datasets/{name}.svc                   OData service document
GET    /v1/projects/{pid}/datasets/{name}.svc/$metadata | /Entities   ($top $skip $count $select)

Reading needs `entity.read` (managers, researchers), writing `entity.update` (managers) and
changing lists `dataset.update` (managers); every read is written to the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, patch, post

from api.auth import Actor, authorize
from api.http import base_url, content_disposition, extended_metadata
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services import cases as cases_service
from api.services import entities as service
from api.services import entity_files, reintegration, submission_entities
from api.settings import Settings
from api.v1.odata import SERVICE_MEDIA_TYPE
from api.v1.query_params import non_negative_int
from api.v1.submissions import AuditOut, audit_out
from db import audits
from db import entities as entities_db
from exports.odata import ODataRequestError
from exports.odata_entities import entities_edmx, entity_row, select_keys

BASE = "/v1/projects/{project_id:int}/datasets"
TRUE_OR_FALSE = N_("%(name)s must be true or false.")
ONE = BASE + "/{name:str}"
ENTITY = ONE + "/entities/{uuid:str}"
ODATA_HEADERS = {"OData-Version": "4.0"}
_decode = msgspec.json.Decoder()


class PropertyFormOut(msgspec.Struct, rename="camel"):
    xml_form_id: str
    name: str | None


class PropertyOut(msgspec.Struct, rename="camel"):
    name: str
    published_at: datetime
    odata_name: str
    forms: list[PropertyFormOut]


class DatasetOut(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str
    created_at: datetime
    project_id: int
    approval_required: bool
    owner_only: bool = False
    entities: int | msgspec.UnsetType = msgspec.UNSET
    last_entity: datetime | None | msgspec.UnsetType = msgspec.UNSET
    conflicts: int | msgspec.UnsetType = msgspec.UNSET
    source_forms: list[PropertyFormOut] | msgspec.UnsetType = msgspec.UNSET
    linked_forms: list[PropertyFormOut] | msgspec.UnsetType = msgspec.UNSET
    properties: list[PropertyOut] | msgspec.UnsetType = msgspec.UNSET


class ActorOut(msgspec.Struct, rename="camel"):
    id: int
    type: str
    display_name: str
    created_at: datetime


class VersionOut(msgspec.Struct, rename="camel", omit_defaults=True):
    label: str
    current: bool
    created_at: datetime
    creator_id: int | None
    user_agent: str | None
    version: int
    base_version: int | None
    conflicting_properties: list[str] | None
    data: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class EntityOut(msgspec.Struct, rename="camel", omit_defaults=True):
    uuid: str
    created_at: datetime
    creator_id: int | None
    updated_at: datetime | None
    deleted_at: datetime | None
    conflict: str | None
    current_version: VersionOut
    creator: ActorOut | msgspec.UnsetType = msgspec.UNSET


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _forms(items) -> list[PropertyFormOut]:
    return [PropertyFormOut(xml_form_id=f["xmlFormId"], name=f.get("name")) for f in items]


def dataset_out(row, *, extended: bool = False, metadata: dict | None = None) -> DatasetOut:
    out = DatasetOut(
        name=row["name"],
        created_at=row["created_at"],
        project_id=row["project_id"],
        approval_required=row["approval_required"],
    )
    if extended:
        out.entities = row["entities"]
        out.last_entity = row["last_entity"]
        out.conflicts = row["conflicts"]
    if metadata is not None:
        out.source_forms = _forms(metadata["source_forms"])
        out.linked_forms = _forms(metadata["linked_forms"])
        out.properties = [
            PropertyOut(
                name=p["name"], published_at=p["created_at"], odata_name=p["name"],
                forms=_forms(p["forms"]),
            )
            for p in metadata["properties"]
        ]
    return out


def entity_out(row, *, data: bool, extended: bool = False) -> EntityOut:
    version = VersionOut(
        label=row["label"],
        current=True,
        created_at=row["def_created_at"],
        creator_id=row["def_creator_id"],
        user_agent=row["user_agent"],
        version=row["version"],
        base_version=row["base_version"],
        conflicting_properties=row["conflicting_properties"],
    )
    if data:
        version.data = row["data"]
    out = EntityOut(
        uuid=row["uuid"],
        created_at=row["created_at"],
        creator_id=row["creator_id"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
        conflict=row["conflict"],
        current_version=version,
    )
    if extended and row["creator_id"] is not None:
        out.creator = ActorOut(
            id=row["creator_id"], type=row["creator_type"], display_name=row["creator_name"],
            created_at=row["creator_created_at"],
        )
    return out


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return _decode.decode(raw)
    except msgspec.DecodeError as exc:
        raise Problem("json-invalid", N_("The body is not valid JSON: %(error)s"),
                      params={"error": str(exc)}) from exc


async def _json_object(request: Request) -> dict:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise Problem("json-invalid", N_("The body must be a JSON object."))
    return body


async def _full_entity(conn, actor: Actor | None, project_id: int, name: str,
                       uuid: str) -> EntityOut:
    _, row = await service.get_entity(conn, actor, project_id, name, uuid)
    return entity_out(row, data=True)


# ---------------------------------------------------------------------------------------------
# Datasets


@get(BASE)
async def list_datasets(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> list[DatasetOut]:
    authorize(actor, "entity.read", project_id)
    extended = extended_metadata(request)
    return [dataset_out(r, extended=extended)
            for r in await entities_db.list_datasets(conn, project_id,
                                                     scope=row_scope(actor, project_id))]


@post(BASE, status_code=200)
async def create_dataset(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> DatasetOut:
    authorize(actor, "dataset.update", project_id)
    body = await _json_object(request)
    approval = body.get("approvalRequired", False)
    if not isinstance(approval, bool):
        raise Problem("entity-parameter-invalid", TRUE_OR_FALSE, params={"name": "approvalRequired"})
    row = await service.create_dataset(conn, actor, project_id, body.get("name"), approval)
    return dataset_out(row, metadata=await service.dataset_metadata(conn, row))


@get(ONE)
async def get_dataset(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> Response:
    """GET .../datasets/{name}, or .../datasets/{name}.svc (the OData service document)."""
    authorize(actor, "entity.read", project_id)
    if name.endswith(".svc"):  # a dataset name never holds "."
        await service.get_dataset(conn, project_id, name[:-4])
        url = base_url(request, request.app.state.settings) + request.url.path
        return Response(
            {"@odata.context": f"{url}/$metadata",
             "value": [{"name": "Entities", "kind": "EntitySet", "url": "Entities"}]},
            media_type=SERVICE_MEDIA_TYPE, headers=ODATA_HEADERS,
        )
    row = await service.get_dataset(conn, project_id, name)
    return Response(dataset_out(row, metadata=await service.dataset_metadata(conn, row)))


@patch(ONE)
async def update_dataset(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> DatasetOut:
    authorize(actor, "dataset.update", project_id)
    body = await _json_object(request)
    unexpected = [k for k in body if k not in ("approvalRequired",)]
    if unexpected:
        raise Problem("entity-attributes-unexpected",
                      N_("Expected parameters: (%(expected)s). Got (%(got)s)."),
                      params={"expected": "approvalRequired", "got": ", ".join(body)})
    row = await service.get_dataset(conn, project_id, name)
    if "approvalRequired" in body:
        if not isinstance(body["approvalRequired"], bool):
            raise Problem("entity-parameter-invalid", TRUE_OR_FALSE, params={"name": "approvalRequired"})
        convert = request.query_params.get("convert")
        if convert not in (None, "true", "false"):
            raise Problem("request-invalid", TRUE_OR_FALSE, params={"name": "convert"})
        row = await submission_entities.set_approval_required(
            conn, actor, project_id, name, body["approvalRequired"], convert=convert == "true"
        )
    return dataset_out(row, metadata=await service.dataset_metadata(conn, row))


@post(ONE + "/properties", status_code=200)
async def create_property(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    authorize(actor, "dataset.update", project_id)
    body = await _json_object(request)
    await service.add_property(conn, actor, project_id, name, body.get("name"))
    return {"success": True}


# ---------------------------------------------------------------------------------------------
# Entities


@get(ONE + "/entities")
async def list_entities(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> list[EntityOut]:
    rows = await service.list_entities(
        conn, actor, project_id, name, deleted=_flag(request.query_params.get("deleted"))
    )
    extended = extended_metadata(request)
    return [entity_out(r, data=False, extended=extended) for r in rows]


@post(ONE + "/entities", status_code=200)
async def create_entities(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> Response:
    authorize(actor, "entity.update", project_id)
    body = await _json_object(request)
    user_agent = request.headers.get("user-agent")
    if "entities" in body:
        await service.create_entities(
            conn, actor, project_id, name, body["entities"], body.get("source"), user_agent
        )
        return Response({"success": True})
    uuid = await service.create_entity(conn, actor, project_id, name, body, user_agent)
    return Response(await _full_entity(conn, actor, project_id, name, uuid))


@get(ONE + "/entities.csv")
async def entities_csv(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> Response:
    body, etag = await entity_files.export_csv(conn, actor, project_id, name)
    quoted = f'"{etag}"'
    if request.headers.get("if-none-match") == quoted:
        return Response(b"", status_code=304, headers={"ETag": quoted})
    return Response(
        body, media_type="text/csv; charset=utf-8",
        headers={"ETag": quoted,
                 "Content-Disposition": content_disposition(f"{name}.csv")},
    )


@get(ENTITY)
async def get_entity(
    project_id: int, name: str, uuid: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> EntityOut:
    _, row = await service.read_entity(conn, actor, project_id, name, uuid)
    return entity_out(row, data=True, extended=extended_metadata(request))


@patch(ENTITY)
async def update_entity(
    project_id: int, name: str, uuid: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> EntityOut:
    authorize(actor, "entity.update", project_id)
    body = await _json_body(request)
    key = await service.update_entity(
        conn, actor, project_id, name, uuid, body,
        base_version=request.query_params.get("baseVersion"),
        force=_flag(request.query_params.get("force")),
        resolve=_flag(request.query_params.get("resolve")),
        user_agent=request.headers.get("user-agent"),
    )
    return await _full_entity(conn, actor, project_id, name, key)


@delete(ENTITY, status_code=200)
async def delete_entity(
    project_id: int, name: str, uuid: str, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    await service.delete_entity(conn, actor, project_id, name, uuid)
    return {"success": True}


@post(ENTITY + "/restore", status_code=200)
async def restore_entity(
    project_id: int, name: str, uuid: str, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    await service.restore_entity(conn, actor, project_id, name, uuid)
    return {"success": True}


def _version_json(v: dict, extended: bool) -> dict[str, Any]:
    out = {
        "version": v["version"],
        "baseVersion": v["base_version"],
        "label": v["label"],
        "data": v["data"],
        "dataReceived": v["data_received"],
        "conflictingProperties": v["conflicting_properties"],
        "current": v["current"],
        "createdAt": v["created_at"],
        "creatorId": v["creator_id"],
        "userAgent": v["user_agent"],
        "branchId": v["branch_id"],
        "trunkVersion": v["trunk_version"],
        "branchBaseVersion": v["branch_base_version"],
        "source": v["source"],
        "conflict": v["conflict"],
        "resolved": v["resolved"],
        "baseDiff": v["baseDiff"],
        "serverDiff": v["serverDiff"],
        "lastGoodVersion": v["lastGoodVersion"],
        "relevantToConflict": v["relevantToConflict"],
    }
    if extended and v["creator_id"] is not None:
        out["creator"] = {"id": v["creator_id"], "type": v["creator_type"],
                          "displayName": v["creator_name"], "createdAt": v["creator_created_at"]}
    return out


@get(ENTITY + "/versions")
async def entity_versions(
    project_id: int, name: str, uuid: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> list[dict]:
    versions = await service.entity_versions(
        conn, actor, project_id, name, uuid,
        relevant_to_conflict=_flag(request.query_params.get("relevantToConflict")),
    )
    extended = extended_metadata(request)
    return [_version_json(v, extended) for v in versions]


@get(ENTITY + "/diffs")
async def entity_diffs(
    project_id: int, name: str, uuid: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[list[dict]]:
    return await service.entity_diffs(conn, actor, project_id, name, uuid)


@get(ENTITY + "/audits")
async def entity_audits(
    project_id: int, name: str, uuid: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> list[AuditOut]:
    authorize(actor, "entity.read", project_id)
    _, row = await service.get_entity(conn, actor, project_id, name, uuid)
    rows = await audits.list_audits_of(conn, service.entity_acted_on(project_id, name, row["uuid"]))
    extended = extended_metadata(request)
    return [audit_out(r, extended=extended) for r in rows]


@get(ENTITY + "/timeline")
async def entity_timeline(
    project_id: int, name: str, uuid: str, conn: asyncpg.Connection, actor: Actor | None
) -> dict:
    return await cases_service.entity_timeline(conn, actor, project_id, name, uuid)


@get("/v1/projects/{project_id:int}/summaries/reintegration")
async def reintegration_summary(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None,
    settings: Settings,
) -> dict:
    """Cases opened, active or closed (?measure=), by up to two of centre, quarter, stage,
    close_reason, region, sex, age_band (?by=), under disclosure control (?disclosure=off only
    for roles that read microdata)."""
    measure, by, table, publication = await reintegration.reintegration_summary(
        conn, actor, project_id, dict(request.query_params), settings
    )
    return reintegration.summary_json(measure, by, table, publication)


# ---------------------------------------------------------------------------------------------
# OData


@get(BASE + "/{dataset_svc:str}/{table:str}")
async def odata_entities(
    project_id: int, dataset_svc: str, table: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> Response:
    actor = authorize(actor, "entity.read", project_id)
    if not dataset_svc.endswith(".svc"):
        raise Problem("not-found")
    name = dataset_svc[:-4]
    dataset = await service.get_dataset(conn, project_id, name)
    properties = await service.property_names(conn, dataset["id"])
    if table == "$metadata":
        return Response(
            entities_edmx(properties).encode("utf-8"),
            media_type="application/xml; charset=utf-8", headers=ODATA_HEADERS,
        )
    if table != "Entities":
        raise Problem("not-found", N_("The entity list has no OData table %(name)s."),
                      params={"name": repr(table)})
    if request.query_params.get("$filter"):
        raise Problem("odata-query-invalid", N_("$filter is not supported on entity lists yet."))
    try:
        keep = select_keys(request.query_params.get("$select"), properties)
    except ODataRequestError as exc:
        raise Problem("entity-property-not-found", exc.template, params=exc.params) from exc
    top = non_negative_int(request, "$top", "odata-query-invalid")
    skip = non_negative_int(request, "$skip", "odata-query-invalid") or 0
    scope = row_scope(actor, project_id)  # rows, $count and nextLink: only the actor's
    total = await entities_db.count_entities(conn, dataset["id"], scope=scope)
    rows = await entities_db.page_entities(conn, dataset["id"], limit=top, offset=skip,
                                           scope=scope)
    await audits.log_audit(
        conn, actor.id, "entity.list", service.dataset_acted_on(project_id, name),
        {"odata": True, "count": len(rows)},
    )
    url = base_url(request, request.app.state.settings) + request.url.path
    service_root = url[: url.find(".svc") + 4]
    body: dict[str, Any] = {
        "@odata.context": f"{service_root}/$metadata#Entities",
        "value": [entity_row(r, properties, keep) for r in rows],
    }
    if _flag(request.query_params.get("$count")):
        body["@odata.count"] = total
    if top is not None and skip + top < total:
        params = [(k, v) for k, v in request.query_params.items() if k != "$skip"]
        params.append(("$skip", str(skip + top)))
        body["@odata.nextLink"] = url + "?" + "&".join(
            f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params
        )
    return Response(body, media_type="application/json", headers=ODATA_HEADERS)

"""Erasing a person over REST (fieldsurvey's own; Central has no erasure):
POST /v1/projects/{pid}/datasets/{name}/entities/{uuid}/erase          {"confirm": case code}
POST /v1/projects/{pid}/forms/{xmlFormId}/submissions/{instanceId}/erase {"confirm": code}
The entity (a case) goes with every submission that created or updated it; one submission
alone otherwise. For good, at once, in one transaction (api/services/erasure.py); the audit
line says how many records, never what they held.
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import post
from litestar.datastructures import State

from api.auth import Actor
from api.services import erasure as service


class ErasureConfirm(msgspec.Struct, forbid_unknown_fields=True):
    confirm: str


class ErasureOut(msgspec.Struct):
    success: bool
    entities: int
    submissions: int


@post("/v1/projects/{project_id:int}/datasets/{name:str}/entities/{uuid:str}/erase",
      status_code=200)
async def erase_entity(
    project_id: int, name: str, uuid: str, data: ErasureConfirm, conn: asyncpg.Connection,
    actor: Actor | None, state: State,
) -> ErasureOut:
    report = await service.erase_entity(conn, state.attachment_store, actor, project_id, name,
                                        uuid, data.confirm)
    return ErasureOut(True, report.entities, report.submissions)


@post("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}/erase",
      status_code=200)
async def erase_submission(
    project_id: int, xml_form_id: str, instance_id: str, data: ErasureConfirm,
    conn: asyncpg.Connection, actor: Actor | None, state: State,
) -> ErasureOut:
    report = await service.erase_submission(conn, state.attachment_store, actor, project_id,
                                            xml_form_id, instance_id, data.confirm)
    return ErasureOut(True, report.entities, report.submissions)

"""Support-centre cases as cases: ownership, referrals and transfers (api/services/cases.py).

GET    /v1/projects/{pid}/cases/{uuid}                          owner, consent, referrals
PATCH  /v1/projects/{pid}/cases/{uuid}                          {"centre", "caseworkerId"}
POST   /v1/projects/{pid}/cases/{uuid}/referrals                {"kind", "toCentre", "service",
                                                                 "consentOverride"}
PATCH  /v1/projects/{pid}/cases/{uuid}/referrals/{id}           {"state", "reason"}
GET    /v1/projects/{pid}/referrals                             ?state= &centre=

A case is an entity of the list `cases` ({uuid} as in .../datasets/cases/entities/{uuid}).
Reading needs `entity.read`, changing `entity.update`; a referral without recorded consent
needs a manager's `consentOverride` reason. Errors are problem+json (api/problems.py).
"""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Request, Response, get, patch, post

from api.auth import Actor
from api.i18n import N_
from api.problems import Problem
from api.services import cases as service

CASE = "/v1/projects/{project_id:int}/cases/{uuid:str}"


class CasePatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    centre: str | msgspec.UnsetType = msgspec.UNSET
    caseworker_id: int | None | msgspec.UnsetType = msgspec.UNSET


class ReferralCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    kind: str = "referral"
    to_centre: str | None = None
    service: str | None = None
    consent_override: str | None = None


class ReferralPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    state: str
    reason: str | None = None


@get(CASE)
async def get_case(project_id: int, uuid: str, conn: asyncpg.Connection,
                   actor: Actor | None) -> dict:
    return await service.case_file(conn, actor, project_id, uuid)


@patch(CASE)
async def update_case(project_id: int, uuid: str, data: CasePatch, conn: asyncpg.Connection,
                      actor: Actor | None) -> dict:
    changes = {key: value for key, value in (("centre", data.centre),
                                             ("caseworkerId", data.caseworker_id))
               if value is not msgspec.UNSET}
    if not changes:
        raise Problem("request-invalid", N_("Give centre and/or caseworkerId."))
    await service.assign_case(conn, actor, project_id, uuid, changes)
    return await service.case_file(conn, actor, project_id, uuid)


@post(CASE + "/referrals")
async def create_referral(project_id: int, uuid: str, data: ReferralCreate,
                          conn: asyncpg.Connection, actor: Actor | None) -> Response:
    made = await service.refer_case(conn, actor, project_id, uuid, {
        "kind": data.kind, "toCentre": data.to_centre, "service": data.service,
        "consentOverride": data.consent_override})
    return Response(made, status_code=201)


@patch(CASE + "/referrals/{referral_id:int}")
async def answer_referral(project_id: int, uuid: str, referral_id: int, data: ReferralPatch,
                          conn: asyncpg.Connection, actor: Actor | None) -> dict:
    return await service.answer_referral(conn, actor, project_id, uuid, referral_id, data.state,
                                         data.reason)


@get("/v1/projects/{project_id:int}/referrals")
async def list_referrals(project_id: int, request: Request, conn: asyncpg.Connection,
                         actor: Actor | None) -> list[dict]:
    query = request.query_params
    return await service.project_referrals(conn, actor, project_id,
                                           state=query.get("state") or None,
                                           centre=query.get("centre") or None)

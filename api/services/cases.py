"""Support-centre cases as cases: who owns them, and referrals and transfers between centres and
to services (as Primero does). What REST (api/v1/cases.py) and the case pages call.

- A case (an entity of the list `cases`) has an owning centre and an assigned caseworker, a web
  user of the project. Both are set when the case is created (the intake's centre; the web user
  who sent it, none for a phone: db/migrations/0080) and changed by `assign_case` (audited
  `case.assign`).
- `refer_case` makes a referral (to another centre and/or a service of
  forms.vocabulary.REFERRAL_SERVICES) or a transfer (ownership moves to another centre when it
  is accepted). It is refused unless the person's consent to share is recorded on the case
  (the intake's `consent_share` is `yes`), or a manager gives an override with a reason
  (audited `case.consent.override`).
- `answer_referral`: the receiving side accepts or declines (a reason is required to decline).
- Each referral and each answer writes an outbox event in its transaction (`case.referred` or
  `case.transferred`, with the referral's state: api/services/events.py); `on_events`, the
  outbox handler, alerts the receiving side of one received and the referring side of an
  answer (api/services/alerts.py, kind `referral`).

Every change locks the case's owner row, so two answers to one transfer, or a transfer and a
change of owner, happen one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from api import scopes
from api.auth import ROLE_PERMISSIONS, Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services import alerts as alerts_service
from api.services import entities as entities_service
from api.services.projects import require_writable_project
from db import alerts as alerts_db
from db import audits
from db import cases as cases_db
from db import entities as entities_db
from db import events as events_db
from db.publications import CASES_LIST
from forms.entities import versions_with_conflicts
from forms.vocabulary import (
    CENTRES,
    REFERRAL_ANSWERS,
    REFERRAL_KINDS,
    REFERRAL_SERVICES,
    REFERRAL_STATES,
)

CONSENT_PROPERTY = "consent_share"  # the intake's question: may the case be shared?
OVERRIDE_PERMISSION = "case.consent_override"
MAX_REASON = 500
# Roles whose users may be a case's caseworker: those who may read the case.
CASEWORKER_ROLES = tuple(sorted(r for r, p in ROLE_PERMISSIONS.items() if "entity.read" in p))


EVENT_KINDS = {"referral": "case.referred", "transfer": "case.transferred"}


def case_acted_on(project_id: int, uuid: str) -> str:
    return entities_service.entity_acted_on(project_id, CASES_LIST, uuid)


def consent_recorded(data: Mapping[str, Any]) -> bool:
    return data.get(CONSENT_PROPERTY) == "yes"


def referral_json(row) -> dict[str, Any]:
    """A referral as REST shows it (and the pages read it)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "fromCentre": row["from_centre"],
        "toCentre": row["to_centre"],
        "service": row["service"],
        "consent": row["consent"],
        "overrideReason": row["override_reason"],
        "state": row["state"],
        "createdBy": {"id": row["created_by"], "displayName": row["created_by_name"]},
        "createdAt": row["created_at"],
        "respondedBy": ({"id": row["responded_by"], "displayName": row["responded_by_name"]}
                        if row["responded_by"] is not None else None),
        "respondedAt": row["responded_at"],
        "reason": row["response_reason"],
        **({"case": {"uuid": row["case_uuid"], "label": row["case_label"]}}
           if "case_uuid" in row.keys() else {}),
    }


def owner_json(owner) -> dict[str, Any]:
    if owner is None:
        return {"centre": None, "caseworker": None, "updatedAt": None}
    return {
        "centre": owner["centre"],
        "caseworker": ({"id": owner["caseworker_id"], "displayName": owner["caseworker_name"]}
                       if owner["caseworker_id"] is not None else None),
        "updatedAt": owner["updated_at"],
    }


async def _case(conn: asyncpg.Connection, actor: Actor, project_id: int, uuid: str):
    """The case, when it is in the actor's row scope (api/scopes.py), else not found."""
    _, row = await entities_service.get_entity(conn, actor, project_id, CASES_LIST, uuid)
    return row


async def case_file(conn: asyncpg.Connection, actor: Actor | None, project_id: int,
                    uuid: str) -> dict[str, Any]:
    """The case's owner, whether consent to share is recorded, and every referral and transfer,
    oldest first (audited as a read of the case)."""
    actor = authorize(actor, "entity.read", project_id)
    _, row = await entities_service.read_entity(conn, actor, project_id, CASES_LIST, uuid,
                                                action="case.read")
    return {
        "uuid": row["uuid"],
        "label": row["label"],
        "owner": owner_json(await cases_db.get_owner(conn, row["id"])),
        "consentToShare": consent_recorded(row["data"]),
        "referrals": [referral_json(r) for r in await cases_db.list_referrals(conn, row["id"])],
    }


async def caseworkers(conn: asyncpg.Connection, project_id: int) -> list[asyncpg.Record]:
    """The web users a case of the project may be assigned to."""
    return await cases_db.project_staff(conn, project_id, CASEWORKER_ROLES)


def _centre(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise Problem("case-centre-invalid", N_("%(name)s is required: one of %(values)s."),
                          params={"name": name, "values": ", ".join(CENTRES)},
                          extra={"field": name})
        return None
    if value not in CENTRES:
        raise Problem("case-centre-invalid", N_("%(name)s must be one of %(values)s."),
                      params={"name": name, "values": ", ".join(CENTRES)}, extra={"field": name})
    return value


def _reason(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Problem("request-invalid", N_("%(name)s must be a string."), params={"name": name},
                      extra={"field": name})
    value = value.strip()
    if len(value) > MAX_REASON:
        raise Problem("request-invalid", N_("%(name)s has at most %(n)s characters."),
                      params={"name": name, "n": MAX_REASON}, extra={"field": name})
    return value or None


async def assign_case(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, uuid: str,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """Change the owning centre and/or the caseworker (`centre`, `caseworkerId`: None
    unassigns). Audited `case.assign` with the old and new values."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    async with conn.transaction():
        row = await _case(conn, actor, project_id, uuid)
        await cases_db.lock_owner(conn, row["id"])
        before = await cases_db.get_owner(conn, row["id"])
        centre, worker = before["centre"], before["caseworker_id"]
        if "centre" in changes:
            centre = _centre(changes["centre"], "centre", required=True)
        if "caseworkerId" in changes:
            worker = changes["caseworkerId"]
            if worker is not None:
                staff = {s["id"] for s in await caseworkers(conn, project_id)}
                if isinstance(worker, bool) or not isinstance(worker, int) or worker not in staff:
                    raise Problem("caseworker-invalid", extra={"field": "caseworkerId"})
        await cases_db.set_owner(conn, row["id"], centre, worker, actor.id)
        await audits.log_audit(
            conn, actor.id, "case.assign", case_acted_on(project_id, row["uuid"]),
            {"entityId": row["id"],
             "centre": {"old": before["centre"], "new": centre},
             "caseworkerId": {"old": before["caseworker_id"], "new": worker}},
        )
        return owner_json(await cases_db.get_owner(conn, row["id"]))


async def refer_case(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, uuid: str,
    request: Mapping[str, Any],
) -> dict[str, Any]:
    """A referral or a transfer: `kind`, `toCentre`, `service`, and `consentOverride` (a
    manager's reason, when the case has no consent to share recorded)."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    kind = request.get("kind", "referral")
    if kind not in REFERRAL_KINDS:
        raise Problem("referral-invalid", N_("kind must be one of %(values)s."),
                      params={"values": ", ".join(REFERRAL_KINDS)}, extra={"field": "kind"})
    to_centre = _centre(request.get("toCentre"), "toCentre", required=kind == "transfer")
    service = request.get("service") or None
    if kind == "transfer" and service is not None:
        raise Problem("referral-invalid", N_("A transfer moves the case to a centre; it names "
                                             "no service."), extra={"field": "service"})
    if service is not None and service not in REFERRAL_SERVICES:
        raise Problem("referral-invalid", N_("service must be one of %(values)s."),
                      params={"values": ", ".join(REFERRAL_SERVICES)}, extra={"field": "service"})
    if to_centre is None and service is None:
        raise Problem("referral-invalid", N_("A referral names a centre, a service, or both."),
                      extra={"field": "toCentre"})
    override = _reason(request.get("consentOverride"), "consentOverride")
    async with conn.transaction():
        row = await _case(conn, actor, project_id, uuid)
        await cases_db.lock_owner(conn, row["id"])
        owner = await cases_db.get_owner(conn, row["id"])
        if to_centre is not None and to_centre == owner["centre"]:
            raise Problem("referral-invalid", N_("The case is already owned by %(centre)s."),
                          params={"centre": to_centre}, extra={"field": "toCentre"})
        consent = "recorded" if consent_recorded(row["data"]) else None
        if consent is None:
            if override is None:
                raise Problem("referral-consent-missing")
            authorize(actor, OVERRIDE_PERMISSION, project_id)
            consent = "override"
        elif override is not None:
            override = None  # consent is recorded: nothing to override
        try:
            async with conn.transaction():
                made = await cases_db.insert_referral(
                    conn, entity_id=row["id"], kind=kind, from_centre=owner["centre"],
                    to_centre=to_centre, service=service, consent=consent,
                    override_reason=override, created_by=actor.id)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "case_referrals_one_pending_transfer":
                raise Problem("transfer-pending") from exc
            raise
        acted_on = case_acted_on(project_id, row["uuid"])
        details = {"entityId": row["id"], "referralId": made["id"], "kind": kind,
                   "fromCentre": owner["centre"], "toCentre": to_centre, "service": service}
        if consent == "override":  # the reason stays with the referral (erased with the case)
            await audits.log_audit(conn, actor.id, "case.consent.override", acted_on, details)
        await audits.log_audit(conn, actor.id, f"case.{kind}", acted_on, details)
        await _emit(conn, project_id, row, made, actor)
        return referral_json(made)


async def answer_referral(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, uuid: str,
    referral_id: int, state: Any, reason: Any,
) -> dict[str, Any]:
    """Accept or decline (with a reason) a referral or transfer that waits for an answer. An
    accepted transfer makes its centre the case's owner and the one who accepted it the
    caseworker."""
    actor = authorize(actor, "entity.update", project_id)
    await require_writable_project(conn, project_id)
    if state not in REFERRAL_ANSWERS:
        raise Problem("referral-invalid", N_("state must be one of %(values)s."),
                      params={"values": ", ".join(REFERRAL_ANSWERS)}, extra={"field": "state"})
    reason = _reason(reason, "reason")
    if state == "declined" and reason is None:
        raise Problem("referral-reason-missing")
    async with conn.transaction():
        row = await _case(conn, actor, project_id, uuid)
        await cases_db.lock_owner(conn, row["id"])
        found = await cases_db.get_referral(conn, row["id"], referral_id)
        if found is None:
            raise Problem("referral-not-found")
        answered = await cases_db.answer_referral(conn, row["id"], referral_id, state, actor.id,
                                                  reason)
        if answered is None:
            raise Problem("referral-answered", extra={"state": found["state"]})
        acted_on = case_acted_on(project_id, row["uuid"])
        if found["kind"] == "transfer" and state == "accepted":
            before = await cases_db.get_owner(conn, row["id"])
            worker = actor.id if actor.type == "user" else None
            await cases_db.set_owner(conn, row["id"], found["to_centre"], worker, actor.id)
            await audits.log_audit(
                conn, actor.id, "case.assign", acted_on,
                {"entityId": row["id"], "referralId": referral_id,
                 "centre": {"old": before["centre"], "new": found["to_centre"]},
                 "caseworkerId": {"old": before["caseworker_id"], "new": worker}})
        await audits.log_audit(
            conn, actor.id, f"case.{found['kind']}.{'accept' if state == 'accepted' else 'decline'}",
            acted_on, {"entityId": row["id"], "referralId": referral_id})
        await _emit(conn, project_id, row, answered, actor)
        return referral_json(answered)


async def _emit(conn: asyncpg.Connection, project_id: int, case, referral, actor: Actor) -> None:
    """The outbox event of a referral made or answered, in the caller's transaction (as
    api/services/events.py `emit_event`, which imports this module's handler): codes and ids
    only (no reason: it is free text)."""
    await events_db.insert_event(
        conn, EVENT_KINDS[referral["kind"]], project_id, f"case/{case['uuid']}",
        actor_id=actor.id, details={
            "uuid": str(case["uuid"]), "referralId": referral["id"], "kind": referral["kind"],
            "state": referral["state"], "fromCentre": referral["from_centre"],
            "toCentre": referral["to_centre"], "service": referral["service"]})


async def _centre_staff(conn: asyncpg.Connection, project_id: int,
                        centre: str | None) -> list[int]:
    """Who answers for a centre's cases: the project's managers whose row scope takes in the
    centre's cases (every unscoped manager)."""
    managers = await alerts_db.project_managers(conn, project_id)
    return await scopes.users_in_scope(conn, project_id, managers, centre=centre)


async def _alert_recipients(conn: asyncpg.Connection, event, referral) -> list[int]:
    """A referral received: the receiving centre's staff (for a service alone, the owning
    centre's); an answer: whoever made the referral and the referring centre's staff. Never
    the one who acted."""
    d = event.details
    if d["state"] == "pending":
        users = await _centre_staff(conn, event.project_id, d["toCentre"] or d["fromCentre"])
    else:
        users = [referral["created_by"],
                 *await _centre_staff(conn, event.project_id, d["fromCentre"])]
    return [u for u in dict.fromkeys(users) if u != event.actor_id]


async def on_events(conn: asyncpg.Connection, events) -> None:
    """Outbox handler: alerts for referrals and transfers received, accepted and declined
    (once per event and person)."""
    for event in events:
        if event.kind not in EVENT_KINDS.values():
            continue
        d = event.details
        case = await cases_db.case_of_referral(conn, d["referralId"])
        if case is None:  # the case was erased since
            continue
        await alerts_service.alert_users(
            conn, await _alert_recipients(conn, event, case), project_id=event.project_id,
            kind="referral", once_key=f"event/{event.id}",
            link=f"/projects/{event.project_id}/cases/{d['uuid']}#referral-{d['referralId']}",
            details={"kind": d["kind"], "state": d["state"], "case": case["label"],
                     "fromCentre": d["fromCentre"], "toCentre": d["toCentre"],
                     "service": d["service"]})


async def referral_record(conn: asyncpg.Connection, referral_id: int) -> dict[str, Any] | None:
    """A referral as REST shows it, with its case (a webhook's record of a case event); None
    when the case is gone."""
    row = await cases_db.referral_with_case(conn, referral_id)
    return referral_json(row) if row is not None else None


async def project_referrals(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, *, state: str | None = None,
    centre: str | None = None, limit: int = 200,
) -> list[dict[str, Any]]:
    """Referrals and transfers of the project's cases, newest first: to one centre, in one
    state, or all."""
    actor = authorize(actor, "entity.read", project_id)
    if state is not None and state not in REFERRAL_STATES:
        raise Problem("referral-invalid", N_("state must be one of %(values)s."),
                      params={"values": ", ".join(REFERRAL_STATES)}, extra={"field": "state"})
    centres = [_centre(centre, "centre", required=True)] if centre else None
    rows = await cases_db.project_referrals(conn, project_id, CASES_LIST, centres, state, limit,
                                            scope=row_scope(actor, project_id))
    return [referral_json(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# The timeline


def _visit_day(d) -> str:
    received = d["data_received"] or {}
    for key in ("last_visit", "opened"):
        if received.get(key):
            return str(received[key])[:10]
    return d["created_at"].date().isoformat()


def _referral_entries(referrals) -> list[dict[str, Any]]:
    """A case's referrals and transfers in its timeline: one entry when each was made, one when
    it was answered (kind `referral`, `referral.accepted`, `transfer.declined`...)."""
    out = []
    for r in referrals:
        referral = {"id": r["id"], "kind": r["kind"], "state": r["state"],
                    "fromCentre": r["from_centre"], "toCentre": r["to_centre"],
                    "service": r["service"], "consent": r["consent"],
                    "reason": r["response_reason"]}
        steps = [(r["kind"], r["created_at"], r["created_by"], r["created_by_name"])]
        if r["responded_at"] is not None:
            steps.append((f"{r['kind']}.{r['state']}", r["responded_at"], r["responded_by"],
                          r["responded_by_name"]))
        for kind, at, by, name in steps:
            out.append({
                "version": None, "baseVersion": None, "date": at.date().isoformat(),
                "receivedAt": at, "kind": kind, "xmlFormId": None, "instanceId": None,
                "creatorId": by, "creatorName": name, "received": None, "state": None,
                "conflict": None, "conflictingProperties": None, "referral": referral,
            })
    return out


async def entity_timeline(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, dataset_name: str,
    uuid: str,
) -> dict[str, Any]:
    """A case's timeline for coordinators: every version (the intake, each visit, each edit
    through the API) in the order the visits happened (their own date: `last_visit`, else
    `opened`, else when the server received it; then version), with what that visit said and
    the state it left the case in; and, for the list `cases`, each referral or transfer when
    it was made and when it was answered (REST's .../entities/{uuid}/timeline, the case page)."""
    _, row = await entities_service.read_entity(conn, actor, project_id, dataset_name, uuid,
                                                action="entity.timeline.read")
    defs = await entities_db.list_defs(conn, row["id"])
    versions = {v["version"]: v for v in versions_with_conflicts(
        [dict(d) for d in defs], None)}
    entries = []
    for d in defs:
        source = entities_service.source_of(d)
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
    if dataset_name == CASES_LIST:
        entries += _referral_entries(await cases_db.list_referrals(conn, row["id"]))
    entries.sort(key=lambda e: (e["date"], e["version"] is None, e["version"] or 0,
                                e["receivedAt"]))
    return {
        "uuid": row["uuid"],
        "label": row["label"],
        "currentVersion": row["version"],
        "conflict": row["conflict"],
        "current": {"label": row["label"], **row["data"]},
        "entries": entries,
    }

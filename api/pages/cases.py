"""Support-centre cases in the browser: coordinators follow each case over months.

- /projects/{pid}/cases: the cases of the project (the `cases` entity list that the
  support-centre intake form fills), with their centre, stage, status and visits; open or
  closed ones only.
- /projects/{pid}/cases/{uuid}: one case: its current state, its owner (centre and caseworker,
  changed here), its referrals and transfers (made, accepted and declined here:
  api/services/cases.py, what REST's /v1/projects/{pid}/cases calls), and its timeline (the
  intake, each follow-up visit, each change through the API, each referral and its answer) in
  the order the visits happened, what each one changed, when the server received it (in the
  reader's time zone) and a link to the submission that made it.

The data comes from api/services/entities.py and cases.py (`search_entities`, `entity_timeline`, what REST's
`.../entities` and `.../timeline` call; api/auth.py's entity.read decides who may). Names of
properties and of their values come from the fields of the forms that save to them, in the
page's language; the few properties a form computes without a label have names here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, urlencode

import asyncpg
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.i18n import N_, I18n
from api.pages.answers import choice_text, language_of, schema_for_def
from api.pages.submissions import submission_url
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.problems import Problem
from api.scopes import row_scope
from api.services import cases as cases_service
from api.services import entities as entities_service
from api.services import reading as reading_service
from api.services.reintegration import CASES_LIST
from db import entities as entities_db
from db import forms as forms_db
from db import projects as projects_db
from exports.layout import label_in
from forms.numbers import whole_number
from forms.schema import Field
from forms.vocabulary import (
    CENTRE_LABELS,
    REFERRAL_KIND_LABELS,
    REFERRAL_SERVICE_LABELS,
    REFERRAL_STATE_LABELS,
)

add_nav(NavItem("cases", N_("Cases"), "/projects/{project_id}/cases", "entity.read", order=35))

# Properties the forms compute (calculate fields have no label) and their coded values.
PROPERTY_NAMES = {
    "label": N_("Case code"),
    "case_code": N_("Case code"),
    "age_band": N_("Age group"),
    "status": N_("Status"),
    "visits": N_("Visits"),
    "stage": N_("Reintegration stage"),
}
def NC_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - gettext's convention
    """Marks a message with a context for the catalogue (`make messages`: -k NC_:1c,2): "Open"
    of a case (masculine "Открыт" in Russian) is not "Open" of a form ("Открыта")."""
    return context, message


VALUE_NAMES = {
    "status": {"open": NC_("case", "Open"), "closed": NC_("case", "Closed")},
    "age_band": {"under_18": N_("under 18"), "18_24": N_("18–24"), "25_34": N_("25–34"),
                 "35_49": N_("35–49"), "50_plus": N_("50 and older")},
}
# The list's columns, when the case list has these properties.
LIST_COLUMNS = ("centre", "stage", "status", "opened", "last_visit", "next_contact", "visits")
STATUS_FILTERS = {"": NC_("cases", "All"), "open": NC_("cases", "Open"),
                  "closed": NC_("cases", "Closed")}


def cases_url(project_id: int, uuid: str | None = None) -> str:
    base = f"/projects/{project_id}/cases"
    return base if uuid is None else f"{base}/{quote(uuid, safe='')}"


@dataclass
class Shown:
    text: str
    code: str | None = None  # the raw value, when a label is shown instead


class CaseLabels:
    """Names of a case list's properties and values in the reader's language."""

    def __init__(self, i18n: I18n, fields: dict[str, tuple[Field, str | None, str | None]],
                 order: list[str]):
        self.i18n = i18n
        self.fields = fields  # property -> (field, form language, form default language)
        self.order = order

    def name(self, prop: str) -> str:
        found = self.fields.get(prop)
        if found:
            label = label_in(found[0].labels, found[1], found[2])
            if label:
                return label
        return self.i18n.gettext(PROPERTY_NAMES[prop]) if prop in PROPERTY_NAMES else prop

    def value(self, prop: str, raw) -> Shown | None:
        if raw is None or raw == "":
            return None
        text = str(raw)
        if prop in VALUE_NAMES and text in VALUE_NAMES[prop]:
            name = VALUE_NAMES[prop][text]
            return Shown(self.i18n.pgettext(*name) if isinstance(name, tuple)
                         else self.i18n.gettext(name), text)
        found = self.fields.get(prop)
        if found:
            f, language, default = found
            if f.type in ("select_one", "select_multiple") and f.choices:
                shown = choice_text(f, text, language, default)
                if shown is not None and shown != text:
                    return Shown(shown, text)
            elif f.type == "date":
                try:
                    return Shown(self.i18n.date(date.fromisoformat(text[:10])))
                except ValueError:
                    pass
        if prop == "visits" and (count := whole_number(text)) is not None:
            return Shown(self.i18n.number(count))
        return Shown(text)

    def facts(self, state: dict) -> list[tuple[str, Shown]]:
        """(name, value) of every property with a value, in the list's order."""
        keys = [p for p in self.order if p in state] + sorted(
            k for k in state if k not in self.order and k != "label")
        return [(self.name(k), shown) for k in keys
                if (shown := self.value(k, state.get(k))) is not None]


def _pick(candidates: list[Field]) -> Field:
    """The field that names a property best: one with choices, else one with a label."""
    return max(candidates, key=lambda f: (bool(f.choices), bool(f.labels)))


async def case_labels(conn: asyncpg.Connection, i18n: I18n, dataset_id: int) -> CaseLabels:
    found: dict[str, list[tuple[Field, str | None, str | None]]] = {}
    order: list[str] = []
    for row in await entities_db.property_fields(conn, dataset_id):
        if row["name"] not in order:
            order.append(row["name"])
        schema = await schema_for_def(conn, row["form_def_id"])
        try:
            f = schema.field(row["path"])
        except KeyError:
            continue
        found.setdefault(row["name"], []).append(
            (f, language_of(schema, i18n.locale), schema.default_language))
    for prop in (p["name"] for p in await entities_db.list_properties(conn, dataset_id)):
        if prop not in order:
            order.append(prop)
    fields = {}
    for prop, items in found.items():
        best = _pick([f for f, _, _ in items])
        fields[prop] = next(item for item in items if item[0] is best)
    return CaseLabels(i18n, fields, order)


async def _project(conn: asyncpg.Connection, project_id: int):
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound()
    return project


CASES_PAGE = 50  # cases a page of the list shows
SEARCHED = ("centre", "stage")  # the properties the list searches by, when the forms name them


def _options(labels: CaseLabels, prop: str) -> list[tuple[str, str]]:
    """(code, name in the reader's language) of a searched property's choices."""
    found = labels.fields.get(prop)
    if not found or not found[0].choices:
        return []
    return [(c.name, labels.value(prop, c.name).text) for c in found[0].choices]


@get("/projects/{project_id:int}/cases")
async def cases_page(project_id: int, page: Page, request: Request,
                     conn: asyncpg.Connection) -> Response:
    actor = page.require("entity.read", project_id)
    project = await _project(conn, project_id)
    query = request.query_params
    status = query.get("status", "")
    if status not in STATUS_FILTERS:
        status = ""
    try:
        dataset = await entities_service.get_dataset(conn, project_id, CASES_LIST)
    except Problem:
        return page.render("cases/list.html", project=project, cases=None, columns=[],
                           chosen=status, statuses=STATUS_FILTERS, total=0)
    labels = await case_labels(conn, page.i18n, dataset["id"])
    searches = [{"name": prop, "label": labels.name(prop), "options": _options(labels, prop)}
                for prop in SEARCHED if prop in labels.order]
    searches = [s for s in searches if s["options"]]
    chosen = {}  # the searched values the forms know; any other is no search
    for search in searches:
        value = query.get(search["name"], "")
        if value in {code for code, _ in search["options"]}:
            chosen[search["name"]] = value
    code = (query.get("code") or "").strip()[:100]
    offset = whole_number(query.get("offset")) or 0
    rows, matching = await entities_service.search_entities(
        conn, actor, project_id, CASES_LIST, {**chosen, **({"status": status} if status else {})},
        code, limit=CASES_PAGE, offset=offset)
    columns = [c for c in LIST_COLUMNS if c in labels.order]
    cases = [
        {"url": cases_url(project_id, r["uuid"]), "label": r["label"], "conflict": r["conflict"],
         "updated": r["updated_at"] or r["created_at"],
         "cells": [labels.value(c, r["data"].get(c)) for c in columns]}
        for r in rows
    ]
    kept = {**chosen, **({"code": code} if code else {})}

    def link(**changes) -> str:
        params = {k: v for k, v in {**kept, "status": status, **changes}.items() if v}
        return cases_url(project_id) + (f"?{urlencode(params)}" if params else "")

    return page.render(
        "cases/list.html", project=project, cases=cases, chosen=status,
        statuses=STATUS_FILTERS, total=await entities_db.count_entities(
            conn, dataset["id"], scope=row_scope(page.actor, project_id)),
        matching=matching, columns=[labels.name(c) for c in columns], searches=searches,
        searched=chosen, code=code, first=offset + 1, last=offset + len(cases),
        status_links={c: link(status=c, offset=None) for c in STATUS_FILTERS},
        newer=link(offset=max(0, offset - CASES_PAGE) or None) if offset else None,
        older=link(offset=offset + CASES_PAGE) if offset + len(cases) < matching else None,
    )


# What each entry of the timeline was, by how the version was made.
ENTRY_KINDS = {
    ("created", True): N_("Intake"),
    ("created", False): N_("Case created"),
    ("updated", True): N_("Follow-up visit"),
    ("updated", False): N_("Changed"),
}


def _changes(labels: CaseLabels, before: dict | None, after: dict) -> list[dict]:
    """What a version changed, property by property (the intake: every value it set)."""
    # the intake's code is the page's heading; a later change of it is shown
    seen = {**(before or {}), **after}
    keys = [k for k in dict.fromkeys(("label", *labels.order, *sorted(seen)))
            if k in seen and (k != "label" or before is not None)]
    out = []
    for k in keys:
        old = (before or {}).get(k)
        new = after.get(k)
        if before is not None and old == new:
            continue
        shown_new = labels.value(k, new)
        if before is None and shown_new is None:
            continue
        out.append({"name": labels.name(k), "old": labels.value(k, old) if before else None,
                    "new": shown_new})
    return out


# A referral's entries in the timeline, by kind.
REFERRAL_ENTRY_KINDS = {
    "referral": N_("Referral"),
    "referral.accepted": N_("Referral accepted"),
    "referral.declined": N_("Referral declined"),
    "transfer": N_("Transfer"),
    "transfer.accepted": N_("Transfer accepted"),
    "transfer.declined": N_("Transfer declined"),
}


def _centre_name(page: Page, code: str | None) -> str | None:
    if code is None:
        return None
    return page._(CENTRE_LABELS[code]) if code in CENTRE_LABELS else code


def _target(page: Page, referral: dict) -> str:
    """Where a referral goes, in the reader's language: a centre, a service, or both."""
    parts = [_centre_name(page, referral["toCentre"])]
    if referral["service"]:
        parts.append(page._(REFERRAL_SERVICE_LABELS.get(referral["service"], referral["service"])))
    return " · ".join(p for p in parts if p)


def _referral_view(page: Page, r: dict) -> dict:
    return {**r, "kindName": page._(REFERRAL_KIND_LABELS[r["kind"]]),
            "stateName": page._(REFERRAL_STATE_LABELS[r["state"]]), "target": _target(page, r),
            "fromName": _centre_name(page, r["fromCentre"])}


def _timeline_entry(page: Page, project_id: int, e: dict, labels: CaseLabels, states: dict,
                    titles: dict, links: bool) -> dict:
    if e.get("referral"):
        referral = e["referral"]
        return {"referral": referral["id"], "step": e["kind"].replace(".", "-"),
                "kind": page._(REFERRAL_ENTRY_KINDS[e["kind"]]), "day": _day(page.i18n, e["date"]),
                "received": e["receivedAt"], "by": e["creatorName"],
                "target": _target(page, referral),
                "reason": referral["reason"] if e["kind"].endswith(".declined") else None}
    kind = e["kind"].split(" ", 1)[0]
    from_submission = e["instanceId"] is not None
    return {
        "version": e["version"],
        "kind": page._(ENTRY_KINDS.get((kind, from_submission), N_("Changed"))),
        "day": _day(page.i18n, e["date"]),
        "received": e["receivedAt"],
        "by": e["creatorName"],
        "form": titles.get(e["xmlFormId"], e["xmlFormId"]) if e["xmlFormId"] else None,
        "submission": submission_url(project_id, e["xmlFormId"], e["instanceId"])
        if from_submission and links else None,
        "conflict": e["conflict"],
        "changes": _changes(labels, states.get(e["baseVersion"] or e["version"] - 1)
                            if e["version"] > 1 else None, e["state"]),
    }


async def _case_context(page: Page, conn: asyncpg.Connection, actor, project_id: int,
                        uuid: str) -> dict:
    project = await _project(conn, project_id)
    try:
        dataset = await entities_service.get_dataset(conn, project_id, CASES_LIST)
        timeline = await cases_service.entity_timeline(conn, actor, project_id, CASES_LIST, uuid)
        file = await cases_service.case_file(conn, actor, project_id, uuid)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound() from problem
        raise
    labels = await case_labels(conn, page.i18n, dataset["id"])
    titles = {f["xml_form_id"]: f["title"] or f["xml_form_id"]
              for f in await forms_db.list_forms(conn, project_id)}
    states = {e["version"]: e["state"] for e in timeline["entries"] if e["version"]}
    # a centre the case is only referred to reads the case, not the submissions behind it
    links = actor.can("submission.read", project_id) and row_scope(actor, project_id).allows_centre(
        file["owner"]["centre"])
    entries = [_timeline_entry(page, project_id, e, labels, states, titles, links)
               for e in timeline["entries"]]
    may_change = actor.can("entity.update", project_id)
    views = await reading_service.case_views(
        conn, actor, project_id, CASES_LIST, timeline["uuid"],
        [(e["xmlFormId"], e["instanceId"], e["receivedAt"]) for e in timeline["entries"]
         if e.get("instanceId") and e.get("xmlFormId")],
    ) if actor.can("audit.read", project_id) else None
    owner = file["owner"]
    return {
        "project": project, "case": timeline, "entries": entries,
        "facts": labels.facts(timeline["current"]), "list_url": cases_url(project_id),
        "url": cases_url(project_id, timeline["uuid"]),
        "owner": {**owner, "centreName": _centre_name(page, owner["centre"])},
        "consent": file["consentToShare"],
        "referrals": [_referral_view(page, r) for r in file["referrals"]],
        "may_change": may_change,
        "may_override": actor.can(cases_service.OVERRIDE_PERMISSION, project_id),
        "centres": [(code, page._(name)) for code, name in CENTRE_LABELS.items()],
        "services": [(code, page._(name)) for code, name in REFERRAL_SERVICE_LABELS.items()],
        "kinds": [(code, page._(name)) for code, name in REFERRAL_KIND_LABELS.items()],
        "staff": await cases_service.caseworkers(conn, project_id) if may_change else [],
        "problem": None, "done": None,
        "views": views, "views_shown": reading_service.VIEWS_SHOWN,
    }


@get("/projects/{project_id:int}/cases/{uuid:str}")
async def case_page(project_id: int, uuid: str, page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require("entity.read", project_id)
    context = await _case_context(page, conn, actor, project_id, uuid)
    return page.render("cases/one.html", **context)


async def _case_action(page: Page, conn: asyncpg.Connection, project_id: int, uuid: str,
                       action, anchor: str) -> Response:
    """Run a change of the case; a refusal is shown on the case page, in the reader's
    language; success goes back to the page (POST, redirect, GET)."""
    actor = page.require("entity.update", project_id)
    try:
        await action(actor)
    except Problem as problem:
        if problem.status == 404:
            raise PageNotFound() from problem
        if problem.status not in (400, 403, 409):
            raise
        context = await _case_context(page, conn, actor, project_id, uuid)
        context["problem"] = {"section": anchor, "text": page.problem_message(problem)}
        return page.render("cases/one.html", status=problem.status, **context)
    return page.redirect(cases_url(project_id, uuid) + f"#{anchor}")


REFERRAL_STATE_FILTERS = {"": N_("All"), **REFERRAL_STATE_LABELS}


@get("/projects/{project_id:int}/referrals")
async def referrals_page(project_id: int, page: Page, request: Request,
                         conn: asyncpg.Connection) -> Response:
    """The project's referrals and transfers, newest first: those waiting at a centre, or
    answered (api/services/cases.py `project_referrals`, as REST's /referrals)."""
    actor = page.require("entity.read", project_id)
    project = await _project(conn, project_id)
    query = request.query_params
    state = query.get("state", "pending")
    state = state if state in REFERRAL_STATE_FILTERS else "pending"
    centre = query.get("centre", "")
    centre = centre if centre in CENTRE_LABELS else ""
    rows = await cases_service.project_referrals(conn, actor, project_id, state=state or None,
                                                 centre=centre or None)
    referrals = [{**_referral_view(page, r), "url": cases_url(project_id, r["case"]["uuid"])
                  + f"#referral-{r['id']}"} for r in rows]
    return page.render(
        "cases/referrals.html", project=project, referrals=referrals, state=state,
        centre=centre, list_url=cases_url(project_id),
        states=[(code, page._(name)) for code, name in REFERRAL_STATE_FILTERS.items()],
        centres=[(code, page._(name)) for code, name in CENTRE_LABELS.items()])


FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@post("/projects/{project_id:int}/cases/{uuid:str}/owner")
async def case_owner_action(project_id: int, uuid: str, page: Page, conn: asyncpg.Connection,
                            data: dict[str, str] = FORM) -> Response:
    worker = (data.get("caseworker") or "").strip()
    changes = {"centre": data.get("centre") or None,
               "caseworkerId": whole_number(worker) if worker else None}
    if worker and changes["caseworkerId"] is None:
        changes["caseworkerId"] = worker  # refused by the service as no caseworker
    return await _case_action(page, conn, project_id, uuid, lambda actor: cases_service.assign_case(
        conn, actor, project_id, uuid, changes), "owner")


@post("/projects/{project_id:int}/cases/{uuid:str}/referrals")
async def case_refer_action(project_id: int, uuid: str, page: Page, conn: asyncpg.Connection,
                            data: dict[str, str] = FORM) -> Response:
    request = {"kind": data.get("kind") or "referral", "toCentre": data.get("to_centre") or None,
               "service": data.get("service") or None,
               "consentOverride": data.get("override_reason") or None}
    return await _case_action(page, conn, project_id, uuid, lambda actor: cases_service.refer_case(
        conn, actor, project_id, uuid, request), "referrals")


@post("/projects/{project_id:int}/cases/{uuid:str}/referrals/{referral_id:int}")
async def case_answer_action(project_id: int, uuid: str, referral_id: int, page: Page,
                             conn: asyncpg.Connection, data: dict[str, str] = FORM) -> Response:
    return await _case_action(
        page, conn, project_id, uuid, lambda actor: cases_service.answer_referral(
            conn, actor, project_id, uuid, referral_id, data.get("answer"),
            data.get("reason") or None), "referrals")


def _day(i18n: I18n, text: str) -> str:
    try:
        return i18n.date(date.fromisoformat(text[:10]))
    except ValueError:
        return text


ROUTES = [cases_page, case_page, referrals_page, case_owner_action, case_refer_action, case_answer_action]

"""Deleting, restoring and erasing in the browser, and a form's retention period (issue 25).

- .../submissions/{instanceId}/delete: confirm, then to the trash (restorable for
  FIELDSURVEY_TRASH_DAYS); /projects/{pid}/forms/{xmlFormId}/trash: the form's deleted
  submissions, each with *Restore*.
- /projects/{pid}/cases/{uuid}/delete and /projects/{pid}/cases/trash: the same for cases.
- .../submissions/{instanceId}/erase and /projects/{pid}/cases/{uuid}/erase: erase for good
  after typing the submission's code or the case code.
- /projects/{pid}/forms/{xmlFormId}/retention: the period, and what the next run erases.

Every action calls the service REST calls (api/services/trash.py, erasure.py, retention.py,
entities.py); api/auth.py decides who may.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import asyncpg
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.form_cache import version_schema
from api.pages.web import Page, PageNotFound
from api.problems import Problem
from api.services import entities as entities_service
from api.services import erasure, retention, trash
from api.services.forms import form_or_404
from db import projects as projects_db
from forms.numbers import whole_number
from forms.vocabulary import CASE_LIST as CASES_LIST

FORM = "/projects/{project_id:int}/forms/{xml_form_id:str}"
ONE = FORM + "/submissions/{instance_id:str}"
CASE = "/projects/{project_id:int}/cases/{uuid:str}"
FORM_DATA = Body(media_type=RequestEncodingType.URL_ENCODED)


def _form_url(project_id: int, xml_form_id: str) -> str:
    return f"/projects/{project_id}/forms/{quote(xml_form_id, safe='')}"


def _one_url(project_id: int, xml_form_id: str, instance_id: str) -> str:
    return f"{_form_url(project_id, xml_form_id)}/submissions/{quote(instance_id, safe='')}"


async def _context(page: Page, conn: asyncpg.Connection, project_id: int,
                   xml_form_id: str | None = None) -> dict:
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    context = {"project": project, "trash_days": page.settings.trash_days}
    if xml_form_id is not None:
        try:
            form = await form_or_404(conn, project_id, xml_form_id)
        except Problem as problem:
            raise PageNotFound(page._("This project has no such form.")) from problem
        context.update(form=form, form_url=_form_url(project_id, xml_form_id))
    return context


def _not_found(page: Page, problem: Problem) -> PageNotFound:
    return PageNotFound(page._("There is nothing to act on at this address."))


# --- submissions -----------------------------------------------------------------------------


@get(ONE + "/delete")
async def delete_submission_page(project_id: int, xml_form_id: str, instance_id: str,
                                 page: Page, conn: asyncpg.Connection) -> Response:
    page.require("submission.update", project_id)
    context = await _context(page, conn, project_id, xml_form_id)
    return page.render("trash/confirm.html", **context, kind="delete-submission",
                       record=instance_id, back=_one_url(project_id, xml_form_id, instance_id),
                       problem=None)


@post(ONE + "/delete")
async def delete_submission_action(
    project_id: int, xml_form_id: str, instance_id: str, page: Page, conn: asyncpg.Connection,
    data: dict[str, str] = FORM_DATA,
) -> Response:
    actor = page.require("submission.update", project_id)
    try:
        await trash.delete_submission(conn, actor, project_id, xml_form_id, instance_id,
                                      with_entities=data.get("entities") == "yes")
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        raise
    return page.redirect(f"{_form_url(project_id, xml_form_id)}/trash")


@get(FORM + "/trash")
async def submissions_trash_page(project_id: int, xml_form_id: str, page: Page,
                                 conn: asyncpg.Connection) -> Response:
    actor = page.require("submission.read", project_id)
    context = await _context(page, conn, project_id, xml_form_id)
    rows = await trash.list_deleted_submissions(conn, actor, project_id, xml_form_id)
    base = _form_url(project_id, xml_form_id)
    items = [{"name": r["instance_name"] or r["instance_id"], "code": r["instance_id"],
              "deleted_at": r["deleted_at"],
              "purged_at": r["deleted_at"] + timedelta(days=page.settings.trash_days),
              "restore": f"{base}/trash/{quote(r['instance_id'], safe='')}/restore"}
             for r in rows]
    return page.render("trash/list.html", **context, kind="submissions", items=items,
                       can_restore=actor.can("submission.update", project_id),
                       back=f"{base}/submissions")


@post(FORM + "/trash/{instance_id:str}/restore")
async def restore_submission_action(project_id: int, xml_form_id: str, instance_id: str,
                                    page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require("submission.update", project_id)
    try:
        await trash.restore_submission(conn, actor, project_id, xml_form_id, instance_id)
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        raise
    return page.redirect(_one_url(project_id, xml_form_id, instance_id))


@get(ONE + "/erase")
async def erase_submission_page(project_id: int, xml_form_id: str, instance_id: str,
                                page: Page, conn: asyncpg.Connection) -> Response:
    page.require("submission.update", project_id)
    context = await _context(page, conn, project_id, xml_form_id)
    return page.render("trash/confirm.html", **context, kind="erase-submission",
                       record=instance_id, code=erasure.submission_code(instance_id),
                       back=_one_url(project_id, xml_form_id, instance_id), problem=None)


@post(ONE + "/erase")
async def erase_submission_action(
    project_id: int, xml_form_id: str, instance_id: str, page: Page, conn: asyncpg.Connection,
    state: State, data: dict[str, str] = FORM_DATA,
) -> Response:
    actor = page.require("submission.update", project_id)
    try:
        await erasure.erase_submission(conn, state.attachment_store, actor, project_id,
                                       xml_form_id, instance_id, data.get("confirm"))
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        if problem.slug != "erasure-not-confirmed":
            raise
        context = await _context(page, conn, project_id, xml_form_id)
        return page.render("trash/confirm.html", status=400, **context,
                           kind="erase-submission", record=instance_id,
                           code=erasure.submission_code(instance_id),
                           back=_one_url(project_id, xml_form_id, instance_id),
                           problem=page.problem_message(problem))
    return page.redirect(f"{_form_url(project_id, xml_form_id)}/submissions?erased=1")


# --- cases (entities) ------------------------------------------------------------------------


def _case_url(project_id: int, uuid: str | None = None) -> str:
    return f"/projects/{project_id}/cases" + (f"/{quote(uuid, safe='')}" if uuid else "")


async def _case(page: Page, conn: asyncpg.Connection, project_id: int, uuid: str):
    try:
        _, row = await entities_service.get_entity(conn, page.actor, project_id, CASES_LIST,
                                                   uuid)
    except Problem as problem:
        raise _not_found(page, problem) from problem
    return row


@get(CASE + "/delete")
async def delete_case_page(project_id: int, uuid: str, page: Page,
                           conn: asyncpg.Connection) -> Response:
    page.require("entity.update", project_id)
    context = await _context(page, conn, project_id)
    row = await _case(page, conn, project_id, uuid)
    return page.render("trash/confirm.html", **context, kind="delete-case",
                       record=row["label"], back=_case_url(project_id, uuid), problem=None)


@post(CASE + "/delete")
async def delete_case_action(project_id: int, uuid: str, page: Page,
                             conn: asyncpg.Connection) -> Response:
    actor = page.require("entity.update", project_id)
    try:
        await entities_service.delete_entity(conn, actor, project_id, CASES_LIST, uuid)
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        raise
    return page.redirect(f"{_case_url(project_id)}/trash")


@get("/projects/{project_id:int}/cases/trash")
async def cases_trash_page(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require("entity.read", project_id)
    context = await _context(page, conn, project_id)
    try:
        rows = await entities_service.list_entities(conn, actor, project_id, CASES_LIST,
                                                    deleted=True)
    except Problem:
        rows = []  # no case list in this project yet
    items = [{"name": r["label"], "code": r["uuid"], "deleted_at": r["deleted_at"],
              "purged_at": r["deleted_at"] + timedelta(days=page.settings.trash_days),
              "restore": f"{_case_url(project_id)}/trash/{quote(r['uuid'], safe='')}/restore"}
             for r in rows]
    return page.render("trash/list.html", **context, kind="cases", items=items,
                       can_restore=actor.can("entity.update", project_id),
                       back=_case_url(project_id))


@post("/projects/{project_id:int}/cases/trash/{uuid:str}/restore")
async def restore_case_action(project_id: int, uuid: str, page: Page,
                              conn: asyncpg.Connection) -> Response:
    actor = page.require("entity.update", project_id)
    try:
        await entities_service.restore_entity(conn, actor, project_id, CASES_LIST, uuid)
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        raise
    return page.redirect(_case_url(project_id, uuid))


@get(CASE + "/erase")
async def erase_case_page(project_id: int, uuid: str, page: Page,
                          conn: asyncpg.Connection) -> Response:
    page.require("entity.update", project_id)
    page.require("submission.update", project_id)
    context = await _context(page, conn, project_id)
    row = await _case(page, conn, project_id, uuid)
    return page.render("trash/confirm.html", **context, kind="erase-case", record=row["label"],
                       code=row["label"], back=_case_url(project_id, uuid), problem=None)


@post(CASE + "/erase")
async def erase_case_action(
    project_id: int, uuid: str, page: Page, conn: asyncpg.Connection, state: State,
    data: dict[str, str] = FORM_DATA,
) -> Response:
    actor = page.require("entity.update", project_id)
    try:
        await erasure.erase_entity(conn, state.attachment_store, actor, project_id, CASES_LIST,
                                   uuid, data.get("confirm"))
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        if problem.slug != "erasure-not-confirmed":
            raise
        context = await _context(page, conn, project_id)
        row = await _case(page, conn, project_id, uuid)
        return page.render("trash/confirm.html", status=400, **context, kind="erase-case",
                           record=row["label"], code=row["label"],
                           back=_case_url(project_id, uuid),
                           problem=page.problem_message(problem))
    return page.redirect(_case_url(project_id) + "?erased=1")


# --- retention -------------------------------------------------------------------------------


async def _retention_page(page: Page, conn: asyncpg.Connection, project_id: int,
                          xml_form_id: str, *, status: int = 200,
                          problem: str | None = None, saved: bool = False) -> Response:
    actor = page.require("submission.update", project_id)
    context = await _context(page, conn, project_id, xml_form_id)
    setting = await retention.form_retention(conn, actor, project_id, xml_form_id)
    form = context["form"]
    sensitive = []
    if form["current_def_id"] is not None:
        schema = await version_schema(conn, form["current_def_id"])
        sensitive = sorted(schema.sensitive_paths)
    due = await retention.due_now(conn, actor, project_id, xml_form_id)
    return page.render("trash/retention.html", status=status, **context, setting=setting,
                       sensitive=sensitive, due=due, problem=problem, saved=saved,
                       max_months=retention.MAX_MONTHS,
                       one_url=lambda iid: _one_url(project_id, xml_form_id, iid))


@get(FORM + "/retention")
async def retention_page(project_id: int, xml_form_id: str, page: Page,
                         conn: asyncpg.Connection) -> Response:
    return await _retention_page(page, conn, project_id, xml_form_id,
                                 saved=page.request.query_params.get("saved") == "1")


@post(FORM + "/retention")
async def retention_action(
    project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection,
    data: dict[str, str] = FORM_DATA,
) -> Response:
    actor = page.require("submission.update", project_id)
    months = None
    if data.get("enabled") == "yes":
        months = whole_number(data.get("months", ""))
        if months is None:
            return await _retention_page(
                page, conn, project_id, xml_form_id, status=400,
                problem=page._("The retention period is 1 to %(n)s months.",
                               n=retention.MAX_MONTHS))
    try:
        await retention.set_form_retention(conn, actor, project_id, xml_form_id, months,
                                           data.get("scope", "whole"))
    except Problem as problem:
        if problem.status != 400:
            raise
        return await _retention_page(page, conn, project_id, xml_form_id, status=400,
                                     problem=page.problem_message(problem))
    return page.redirect(f"{_form_url(project_id, xml_form_id)}/retention?saved=1")


ROUTES = [
    delete_submission_page, delete_submission_action, submissions_trash_page,
    restore_submission_action, erase_submission_page, erase_submission_action,
    delete_case_page, delete_case_action, cases_trash_page, restore_case_action,
    erase_case_page, erase_case_action, retention_page, retention_action,
]

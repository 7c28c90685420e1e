"""The submissions of a form, as coordinators and researchers read them in the browser.

- /projects/{pid}/forms/{xmlFormId}/submissions: the table, newest first, paged by keyset
  (?after= / ?before= cursors), filtered by dates, review state, submitter and, for risk
  screenings, risk level and urgency. With htmx (HX-Request) only the table is sent back.
- .../submissions/{instanceId}: the answers with the form's labels in the reader's language,
  repeats, images and audio inline, the classification of a screening, the edit history as a
  diff, the feed (comments, reviews, edits); with submission.update: review (approved,
  hasIssues, rejected) with a comment, and comments. The actions are plain POST forms that
  htmx submits in place.
- .../submissions/{instanceId}/files/{name}: a file of the submission (images and audio
  shown inline only for image/audio/video types; anything else downloads).

Reads and writes go through api/services/submissions.py, the functions REST uses; api/auth.py
decides who may do what.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from litestar import Response, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.http import stored_file_response
from api.i18n import N_
from api.pages.answers import (
    answer_tree,
    diff,
    language_of,
    schema_for_def,
    walk_answers,
)
from api.pages.labels import (
    CONTROL_FORMS,
    EXPLOITATION_STATUS,
    EXPLOITATION_TYPES,
    RISK_GROUPS,
)
from api.pages.web import RISK_LEVELS, Page, PageNotFound
from api.problems import Problem
from api.services import reading as reading_service
from api.services import submissions as svc
from db import projects as projects_db
from exports.layout import label_in
from forms import vocabulary
from forms.screening import RISK_SCREENING_FORM_ID
from forms.sensitive import MASKED
from forms.vocabulary import METADATA_NAMES

BASE = "/projects/{project_id:int}/forms/{xml_form_id:str}/submissions"
ONE = BASE + "/{instance_id:str}"
REVIEW_ACTIONS = {
    "approved": N_("Approve"),
    "hasIssues": N_("Has issues"),
    "rejected": N_("Reject"),
}


def table_url(project_id: int, xml_form_id: str, **params: Any) -> str:
    query = urlencode([(k, v) for k, vs in params.items() if vs
                       for v in (vs if isinstance(vs, list) else [vs])])
    base = f"/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/submissions"
    return base + (f"?{query}" if query else "")


def submission_url(project_id: int, xml_form_id: str, instance_id: str) -> str:
    return (f"/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/submissions/"
            f"{quote(instance_id, safe='')}")


def edit_url(project_id: int, xml_form_id: str, instance_id: str) -> str:
    """The Web Forms edit page of a submission (api/pages/fill.py)."""
    return (f"/dashboard/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/submissions/"
            f"{quote(instance_id, safe='')}/edit")


async def place_labels(conn: asyncpg.Connection, form, locale: str) -> dict[str, str]:
    """Region and district names from the form's own choices, in the reader's language."""
    if form["current_def_id"] is None:
        return {}
    schema = await schema_for_def(conn, form["current_def_id"])
    language = language_of(schema, locale)
    return {
        choice.name: label_in(choice.labels, language, schema.default_language) or choice.name
        for f in schema.walk() if f.name in ("region", "district")
        for choice in f.choices
    }


def _params(page: Page) -> dict[str, list[str]]:
    query = page.request.query_params
    return {name: query.getall(name) for name in query.keys()}


async def _project(conn: asyncpg.Connection, page: Page, project_id: int):
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    return project


def _not_found(page: Page, problem: Problem) -> PageNotFound:
    messages = {
        "form-not-found": page._("This project has no such form."),
        "submission-not-found": page._("This form has no such submission."),
        "attachment-not-found": page._("The submission has no such file."),
    }
    return PageNotFound(messages.get(problem.slug, page._("There is no page at this address.")))


async def _or_404(page: Page, awaitable):
    """A service's answer; its "not found" becomes the 404 page in the reader's language."""
    try:
        return await awaitable
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        raise


def _filter_error(page: Page) -> str:
    return page._("A filter has a value that cannot be used; it was reset. Choose the filters "
                  "again.")


@get(BASE)
async def submissions_page(
    project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection
) -> Response:
    actor = page.require("submission.read", project_id)
    project = await _project(conn, page, project_id)
    params = _params(page)
    error = None
    try:
        query = svc.parse_table_query(params, page.i18n.time_zone)
    except Problem:
        query, error = svc.TableQuery(), _filter_error(page)
    result = await _or_404(page, svc.submissions_table(conn, actor, project_id, xml_form_id,
                                                       query))
    kept = query.params
    links = {
        "newest": table_url(project_id, xml_form_id, **kept) if result.newer else None,
        "newer": table_url(project_id, xml_form_id, **kept, before=result.newer.encode())
        if result.newer else None,
        "older": table_url(project_id, xml_form_id, **kept, after=result.older.encode())
        if result.older else None,
    }
    context = dict(
        # urgent screenings first on each page (a stable sort: newest first among each)
        project=project, form=result.form, links=links,
        rows=sorted(result.rows, key=lambda r: not r["urgent"]),
        matched=result.matched, capped=result.capped, error=error,
        screening=xml_form_id == RISK_SCREENING_FORM_ID, params=kept,
        submitters=await svc.form_submitters(conn, actor, project_id, result.form["id"]),
        review_states=vocabulary.REVIEW_STATES, risk_levels=vocabulary.RISK_LEVELS,
        page_sizes=svc.PAGE_SIZES, limit=query.limit,
        action=table_url(project_id, xml_form_id),
        submission_url=lambda instance_id: submission_url(project_id, xml_form_id, instance_id),
        title=result.form["title"] or result.form["draft_title"] or xml_form_id,
        places=await place_labels(conn, result.form, page.i18n.locale)
        if xml_form_id == RISK_SCREENING_FORM_ID else {},
    )
    partial = page.request.headers.get("hx-request") == "true" and \
        page.request.headers.get("hx-target") == "submissions-table"
    return page.render(
        "submissions/_table.html" if partial else "submissions/table.html",
        headers={"Vary": "Cookie, Accept-Language, HX-Request"}, **context,
    )


def _classification(page: Page, row) -> dict | None:
    if row is None:
        return None
    _ = page._

    def named(labels: dict, codes) -> list[tuple[str, str]]:
        return [(_(labels[c]) if c in labels else c, c) for c in codes or ()]

    return {
        "consent_refused": row["consent_refused"],
        "risk_level": row["risk_level"],
        "vulnerability_level": _(RISK_LEVELS[row["vulnerability_level"]])
        if row["vulnerability_level"] in RISK_LEVELS else None,
        "vulnerability_score": row["vulnerability_score"],
        "exploitation_status": (_(EXPLOITATION_STATUS[row["exploitation_status"]]),
                                row["exploitation_status"])
        if row["exploitation_status"] in EXPLOITATION_STATUS else None,
        "urgent": row["urgent"],
        "needs_review": row["needs_review"],
        "risk_groups": named(RISK_GROUPS, row["risk_groups"]),
        "control_forms": named(CONTROL_FORMS, row["control_forms"]),
        "exploitation_types": named(EXPLOITATION_TYPES, row["exploitation_types"]),
        "rubric_version": row["rubric_version"],
    }


async def _detail_context(
    page: Page, conn: asyncpg.Connection, project_id: int, xml_form_id: str, instance_id: str,
) -> dict:
    actor = page.require("submission.read", project_id)
    project = await _project(conn, page, project_id)
    detail = await _or_404(page, svc.submission_detail(conn, actor, project_id, xml_form_id,
                                                       instance_id))
    current = detail.versions[0]
    schema = await schema_for_def(conn, current["form_def_id"])
    language = language_of(schema, page.i18n.locale)
    history = []
    for newer, older in zip(detail.versions, detail.versions[1:], strict=False):
        newer_schema = await schema_for_def(conn, newer["form_def_id"])
        history.append({
            "version": newer, "previous": older,
            "changes": diff(newer_schema, older["answers"], newer["answers"],
                            language_of(newer_schema, page.i18n.locale)),
        })
    url = submission_url(project_id, xml_form_id, instance_id)
    views = await reading_service.submission_views(
        conn, actor, project_id, xml_form_id, instance_id
    ) if actor.can("audit.read", project_id) else None
    return dict(
        project=project, form=detail.form, row=detail.row, versions=detail.versions,
        answers=(answers := shown_answers(page, answer_tree(schema, current["answers"], language))),
        technical=[n for n in walk_answers(answers) if n.technical], history=history,
        first=detail.versions[-1], feed=detail.feed,
        classification=_classification(page, detail.screening),
        can_review=actor.can("submission.update", project_id),
        edit_url=edit_url(project_id, xml_form_id, instance_id)
        if actor.can("submission.update", project_id) else None,
        review_actions=REVIEW_ACTIONS, url=url,
        file_url=lambda name: f"{url}/files/{quote(name, safe='')}",
        table=table_url(project_id, xml_form_id),
        title=detail.form["title"] or xml_form_id,
        files={a["name"]: a["exists"] for a in detail.row["attachments"]},
        views=views, views_shown=reading_service.VIEWS_SHOWN,
        masked_text=lambda text: "—" if text is None else (
            page._("[masked]") if text == MASKED else text),
        next_url=_next_url(project_id, xml_form_id, await svc.next_needing_review(
            conn, actor, project_id, detail.form["id"], detail.row["id"])),
    )


def shown_answers(page: Page, tree: list) -> list:
    """The answer tree as the page shows it: dates and times in the page's locale (the stored
    value beside them as the code), metadata named from the catalogue (METADATA_NAMES)."""
    for node in walk_answers(tree):
        if node.technical and node.name in METADATA_NAMES:
            node.label = page._(METADATA_NAMES[node.name])
        if node.text and node.type in ("date", "dateTime", "time") and not node.masked:
            shown = _moment_text(page, node.type, node.text)
            if shown is not None:
                node.text, node.code = shown, node.text
    return tree


def _moment_text(page: Page, kind: str, text: str) -> str | None:
    try:
        if kind == "date":
            return page.i18n.date(date.fromisoformat(text[:10]))
        if kind == "dateTime":
            return page.i18n.datetime(datetime.fromisoformat(text))
        return None  # a time of day is shown as the phone wrote it
    except ValueError:
        return None


def _next_url(project_id: int, xml_form_id: str, instance_id: str | None) -> str | None:
    return submission_url(project_id, xml_form_id, instance_id) if instance_id else None


@get(ONE)
async def submission_page(
    project_id: int, xml_form_id: str, instance_id: str, page: Page, conn: asyncpg.Connection
) -> Response:
    context = await _detail_context(page, conn, project_id, xml_form_id, instance_id)
    return page.render("submissions/one.html", **context, message=None, problem=None)


async def _after_action(
    page: Page, conn: asyncpg.Connection, project_id: int, xml_form_id: str, instance_id: str,
    message: str | None, problem: str | None,
) -> Response:
    """htmx: the review panel and feed again, in place (status 200 also for a refusal, which
    the panel shows: htmx swaps only successful answers); without JS: back to the page."""
    if page.request.headers.get("hx-request") == "true":
        context = await _detail_context(page, conn, project_id, xml_form_id, instance_id)
        return page.render("submissions/_review.html", **context, message=message,
                           problem=problem, oob=True)
    if problem is not None:
        context = await _detail_context(page, conn, project_id, xml_form_id, instance_id)
        return page.render("submissions/one.html", status=400, **context, message=None,
                           problem=problem)
    return page.redirect(submission_url(project_id, xml_form_id, instance_id) + "#review")


def _comment_problem(page: Page, problem: Problem) -> str:
    if problem.slug == "request-invalid" and "at most" in (problem.detail or ""):
        return page._("A comment has at most %(n)s characters.", n=page.i18n.number(
            svc.MAX_COMMENT_LENGTH))
    return page._("Write a comment first.")


async def _act(page: Page, conn: asyncpg.Connection, project_id: int, xml_form_id: str,
               instance_id: str, action, done: str) -> Response:
    """Run a review or comment service call; its refusal is shown in the review panel."""
    try:
        await action
    except Problem as problem:
        if problem.status == 404:
            raise _not_found(page, problem) from problem
        if problem.status != 400:
            raise
        return await _after_action(page, conn, project_id, xml_form_id, instance_id, None,
                                   _comment_problem(page, problem))
    return await _after_action(page, conn, project_id, xml_form_id, instance_id, done, None)


@post(ONE + "/review")
async def review_action(
    project_id: int, xml_form_id: str, instance_id: str, page: Page, conn: asyncpg.Connection,
    data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
) -> Response:
    actor = page.require("submission.update", project_id)
    state = data.get("reviewState", "")
    if state not in vocabulary.REVIEW_DECISIONS:
        return await _after_action(page, conn, project_id, xml_form_id, instance_id, None,
                                   page._("Choose one of the review actions."))
    return await _act(page, conn, project_id, xml_form_id, instance_id, svc.review(
        conn, actor, project_id, xml_form_id, instance_id, state, data.get("comment")),
        page._("The review was saved."))


@post(ONE + "/comments")
async def comment_action(
    project_id: int, xml_form_id: str, instance_id: str, page: Page, conn: asyncpg.Connection,
    data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
) -> Response:
    actor = page.require("submission.update", project_id)
    return await _act(page, conn, project_id, xml_form_id, instance_id, svc.add_comment(
        conn, actor, project_id, xml_form_id, instance_id,
        # the page's one comment box is `comment` (also sent with a review); REST-like `body`
        data.get("body") or data.get("comment", "")),
        page._("The comment was added."))


@get(ONE + "/files/{name:str}")
async def submission_file(
    project_id: int, xml_form_id: str, instance_id: str, name: str, page: Page,
    conn: asyncpg.Connection, state: State,
) -> Response:
    actor = page.require("submission.read", project_id)
    content, _stored_type = await _or_404(page, svc.attachment_content(
        conn, state.attachment_store, actor, project_id, xml_form_id, instance_id, name))
    inline = page.request.query_params.get("download") != "1"
    return stored_file_response(content, name, inline=inline)


ROUTES = [submissions_page, submission_page, review_action, comment_action, submission_file]

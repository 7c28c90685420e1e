"""Filling forms in the browser with ODK Web Forms (npm @getodk/web-forms, built by `make`
into api/webforms/dist and served under /webforms/assets).

Pages (each mounts the form with api/webforms/src/main.js, which posts what is submitted to the
page's own `.../submission` address):
- /dashboard/projects/{pid}/fill: the forms the user may fill.
- /dashboard/projects/{pid}/forms/{xmlFormId}/fill: fill a published form (submission.create).
- /dashboard/projects/{pid}/forms/{xmlFormId}/preview: try the current draft (form.update); what
  is sent is a draft test submission, kept apart from the data (api/ingest.py, draft=True).
- /dashboard/projects/{pid}/forms/{xmlFormId}/public-links: create and revoke public access links.
- /dashboard/projects/{pid}/forms/{xmlFormId}/submissions/{instanceId}/edit: edit a submission
  (submission.update); it is stored as a new version with deprecatedID, as an edit from Collect.
- /f/{token}: a public access link, with no login; a link made with `once` takes one
  submission per browser (a cookie remembers it, as Enketo's and Web Forms' single-submission
  links do in Central).

Every submission goes through api/ingest.py, the path Collect's take. The XForm is served
with the page's language as its default translation, so the form opens in the page's language;
when the form's own language menu changes, the entry switches the page's language too.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import asyncpg
import msgspec
from babel import Locale
from litestar import Request, Response, get, post
from litestar.datastructures import State

from api.auth import public_link_actor
from api.form_cache import version_schema
from api.http import base_url, multipart_submission, stored_file_response
from api.i18n import N_, problem_text
from api.pages.web import (
    CONTENT_SECURITY_POLICY,
    CSRF_COOKIE,
    RISK_LEVELS,
    NavItem,
    Page,
    PageNotFound,
    add_nav,
    page_of,
)
from api.pages.webforms import entry_script
from api.problems import Problem
from api.scopes import row_scope
from api.services import entity_files
from api.services import public_links as links_service
from api.services.ingest import IngestResult, ingest_submission
from api.settings import Settings
from db import audits
from db import forms as forms_db
from db import projects as projects_db
from db import public_links as links_db
from db import submissions as submissions_db
from db.scopes import UNSCOPED, RowScope
from forms.schema import FormSchema
from forms.xform_language import language_code, with_default_language

add_nav(NavItem("fill", N_("Fill a form"), "/dashboard/projects/{project_id}/fill",
                "submission.create", order=15))

# ODK Web Forms needs WebAssembly (its XPath parser, 'wasm-unsafe-eval', not 'unsafe-eval')
# and injects its styles at run time (style elements without a nonce: 'unsafe-inline' for
# styles, on these pages only). Its fonts are data: URLs. Scripts stay 'self' only.
WEBFORMS_CSP = (
    CONTENT_SECURITY_POLICY
    .replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
    .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    .replace("font-src 'self'", "font-src 'self' data:")
    # photos are made smaller in a worker (image-blob-reduce, pica) from a blob: or data: URL
    + "; worker-src 'self' blob: data:"
)
JSON = "application/json"
ONCE_COOKIE = "fieldsurvey_link_{id}"
ONCE_COOKIE_AGE = 10 * 365 * 24 * 3600

# What the page says when the server refuses a submission (the problem's slug -> message).
REFUSALS = {
    "form-closed": N_("This form is closed and takes no more submissions."),
    "public-link-used": N_("This link allows one submission, and it was already sent from this "
                           "browser."),
    "project-archived": N_("This project is archived: it is read-only and takes no submissions "
                           "or form changes. Ask an administrator to unarchive it."),
    "public-link-revoked": N_("This link was revoked: it no longer accepts submissions."),
    "submission-conflict": N_("This record was changed by someone else, or sent already with "
                              "other answers. Reload the page and try again."),
    "submission-deprecated-id-unknown": N_("The record you edited no longer exists."),
    "forbidden": N_("Your role does not let you send this form."),
    "auth-required": N_("Your session has ended. Log in again in another tab, then send again."),
    "session-invalid": N_("Your session has ended. Log in again in another tab, then send again."),
    "payload-too-large": N_("The files are larger than this server accepts."),
    "form-not-found": N_("This version of the form is no longer available. Reload the page."),
}


class SubmitAnswer(msgspec.Struct, rename="camel"):
    instance_id: str
    message: str
    referral_note: str | None = None
    risk_level_label: str | None = None


_encode = msgspec.json.Encoder()


def json_response(body, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode.encode(body), status_code=status, media_type=JSON,
                    headers={"Cache-Control": "no-store", **(headers or {})})


def refusal(page: Page, problem: Problem) -> Response:
    message = REFUSALS.get(problem.slug)
    text = page._(message) if message else page._(
        "The server refused the submission: %(detail)s", detail=problem_text(problem, page.i18n))
    return json_response({"message": text, "slug": problem.slug, "code": problem.code},
                         problem.status, headers=problem.headers)


def refusal_of_route(request: Request, problem: Problem) -> Response:
    """The submission routes' answer to a Problem raised around their handler (the body bound's
    408 and 413, api/request_body.py): the JSON refusal the fill page shows, as the handler's."""
    return refusal(page_of(request), problem)


# what the Web Forms page posts to: it reads a JSON refusal, whatever refused the submission
SUBMIT = {"status_code": 201, "exception_handlers": {Problem: refusal_of_route}}


def xml_response(xform: str) -> Response:
    return Response(xform.encode("utf-8"), media_type="text/xml",
                    headers={"Cache-Control": "no-store"})


def referral_note(schema: FormSchema, result: IngestResult, locale: str) -> tuple[str | None, str | None]:
    """For a risk screening: the form's own `referral` note, in the page's language, when the
    stored classification calls for it (the note's relevance on the phone: risk level high or
    urgent), and the risk level's label."""
    screening = result.screening
    if not screening or screening.get("consent_refused"):
        return None, None
    level = screening.get("risk_level")
    note = None
    if level == "high" or screening.get("urgent"):
        for field in schema.walk():
            if field.name == "referral" and field.type == "note":
                labels = field.labels
                chosen = next((text for name, text in labels.items()
                               if language_code(name) == locale), None)
                note = chosen or labels.get(schema.default_language or "") or next(
                    iter(labels.values()), None)
                break
    return note, level


def answer_for(page: Page, result: IngestResult, schema: FormSchema, *, draft: bool) -> Response:
    note, level = referral_note(schema, result, page.i18n.locale)
    if draft:
        message = page._("Sent as a draft test submission. It is kept apart from the data: it "
                         "is not in exports, summaries or the submissions table.")
    elif result.outcome == "edited":
        message = page._("The changes are saved as a new version of the record.")
    else:
        message = page._("The form was sent and saved.")
    label = page._(RISK_LEVELS[level]) if level in RISK_LEVELS else None
    return json_response(SubmitAnswer(result.instance_id, message, note, label))


# --- what the pages share ---------------------------------------------------------------------


async def project_or_404(conn: asyncpg.Connection, project_id: int):
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound()
    return project


async def form_or_404(conn: asyncpg.Connection, project_id: int, xml_form_id: str):
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    if form is None:
        raise PageNotFound()
    return form


# Web Forms 0.22.0 has no translations of its own buttons and messages (English only): the
# entry replaces these texts with the page language's (keys are Web Forms' English texts).
WEBFORMS_TEXTS = {
    "Send": N_("Send"),
    "Add": N_("Add"),
    "Remove": N_("Remove"),
    "Delete": N_("Delete"),
    "Cancel": N_("Cancel"),
    "Condition not satisfied: required": N_("This question must be answered."),
    "Condition not satisfied: constraint": N_("This answer is not allowed."),
    "1 question with error.": N_("1 question has an error."),
    "{n} questions with errors.": N_("Questions with errors: {n}."),
    "Powered by": N_("Powered by"),
    "Change language": N_("Change language"),
    "Choose image": N_("Choose image"),
    "Take picture": N_("Take picture"),
    "No file chosen": N_("No file chosen"),
    "Get location": N_("Get location"),
    "Save location": N_("Save location"),
    "Finding your location": N_("Finding your location"),
    "No results found": N_("No results found"),
    "An error occurred while loading this form": N_("The form could not be loaded."),
}


def webform_texts(page: Page) -> dict:
    """What the entry needs to show Web Forms in the page's language: its texts, and the
    calendar's month and day names (Babel's, from CLDR)."""
    if page.i18n.locale == "en":
        return {}
    locale = Locale.parse(page.i18n.locale)
    months = locale.months["stand-alone"]
    days = locale.days["format"]
    order = [6, 0, 1, 2, 3, 4, 5]  # PrimeVue starts the week on Sunday; Babel on Monday (0)
    return {
        "texts": {english: page._(message) for english, message in WEBFORMS_TEXTS.items()},
        "calendar": {
            "monthNames": [months["wide"][m] for m in range(1, 13)],
            "monthNamesShort": [months["abbreviated"][m] for m in range(1, 13)],
            "dayNames": [days["wide"][d] for d in order],
            "dayNamesShort": [days["abbreviated"][d] for d in order],
            "dayNamesMin": [days["short"][d] for d in order],
            "firstDayOfWeek": 1,
            "today": page._("Today"),
            "clear": page._("Clear"),
        },
    }


def render_form_page(page: Page, *, project, form, mode: str, base: str, title: str,
                     status: int = 200, **extra) -> Response:
    script = entry_script()
    return page.render(
        "fill/form.html", status=status, project=project, form=form, mode=mode, base=base,
        title=title, entry_script=script, csp=WEBFORMS_CSP, texts=webform_texts(page), **extra,
    )


async def fill_target(page: Page, conn, project_id: int, xml_form_id: str):
    actor = page.require("submission.create", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    if form["current_def_id"] is None:
        raise PageNotFound(page._("This form is not published yet."))
    if not actor.may_use_form(project_id, form["id"]):
        raise PageNotFound()
    return actor, form


async def def_xform(conn, def_id: int) -> str:
    definition = await forms_db.get_def(conn, def_id)
    return definition["xform"]


async def form_attachment_response(conn, def_id: int, name: str, *,
                                   entity_lists: bool = True, scope: RowScope = UNSCOPED
                                   ) -> Response:
    """A form's file for Web Forms: an uploaded medium, or an entity list's CSV (`cases.csv`,
    as the OpenRosa routes serve it to Collect); `entity_lists=False` (a public link) is
    served no entity data."""
    item = await forms_db.get_form_attachment(conn, def_id, name)
    if item is not None and item["dataset_id"] is not None and entity_lists:
        return stored_file_response(
            await entity_files.attachment_csv(conn, item["dataset_id"], scope), name)
    if item is None or item["content"] is None:
        raise PageNotFound()
    # a form's images, audio and video may show in the form; every other medium is a download
    return stored_file_response(item["content"], name, inline=True)


# --- the list of forms to fill -----------------------------------------------------------------


@get("/dashboard/projects/{project_id:int}/fill")
async def fill_list(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require("submission.create", project_id)
    project = await project_or_404(conn, project_id)
    forms = [
        f for f in await forms_db.list_forms(conn, project_id)
        if f["current_def_id"] is not None and f["state"] != "closed"
        and actor.may_use_form(project_id, f["id"])
    ]
    return page.render("fill/list.html", project=project, forms=forms,
                       manages=actor.can("form.update", project_id),
                       built=entry_script() is not None)


# --- fill a published form ------------------------------------------------------------------

FORM_PATH = "/dashboard/projects/{project_id:int}/forms/{xml_form_id:str}"


@get(FORM_PATH + "/fill")
async def fill_page(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    _, form = await fill_target(page, conn, project_id, xml_form_id)
    project = await project_or_404(conn, project_id)
    base = f"/dashboard/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/fill"
    return render_form_page(page, project=project, form=form, mode="fill", base=base,
                            title=form["title"] or xml_form_id,
                            closing=form["state"] == "closing")


@get(FORM_PATH + "/fill/form.xml")
async def fill_form_xml(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    _, form = await fill_target(page, conn, project_id, xml_form_id)
    xform = await def_xform(conn, form["current_def_id"])
    return xml_response(with_default_language(xform, page.i18n.locale))


@get(FORM_PATH + "/fill/attachments/{name:str}")
async def fill_form_attachment(project_id: int, xml_form_id: str, name: str, page: Page,
                               conn: asyncpg.Connection) -> Response:
    _, form = await fill_target(page, conn, project_id, xml_form_id)
    return await form_attachment_response(conn, form["current_def_id"], name,
                                          scope=row_scope(page.actor, project_id))


async def submit_from_page(page: Page, request: Request, conn, state: State, project_id: int,
                           xml_form_id: str, *, draft: bool) -> Response:
    """A logged-in user's submission from the fill or preview page, through api/ingest.py."""
    if page.actor is None:
        return refusal(page, Problem("auth-required"))
    try:
        xml, files = await multipart_submission(request)
        result = await ingest_submission(
            conn, state.attachment_store, page.actor, project_id, xml, files,
            user_agent=request.headers.get("user-agent"), expected_form_id=xml_form_id,
            draft=draft,
        )
    except Problem as problem:
        return refusal(page, problem)
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    def_id = form["draft_def_id"] if draft else form["current_def_id"]
    return answer_for(page, result, await version_schema(conn, def_id), draft=draft)


@post(FORM_PATH + "/fill/submission", **SUBMIT)
async def fill_submit(project_id: int, xml_form_id: str, request: Request, page: Page,
                      conn: asyncpg.Connection, state: State) -> Response:
    return await submit_from_page(page, request, conn, state, project_id, xml_form_id,
                                  draft=False)


# --- preview the draft -------------------------------------------------------------------------


async def preview_target(page: Page, conn, project_id: int, xml_form_id: str):
    page.require("form.update", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    if form["draft_def_id"] is None:
        raise PageNotFound(page._("This form has no draft. Make a draft on the form's page "
                                  "first."))
    return form


@get(FORM_PATH + "/preview")
async def preview_page(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    form = await preview_target(page, conn, project_id, xml_form_id)
    project = await project_or_404(conn, project_id)
    base = f"/dashboard/projects/{project_id}/forms/{quote(xml_form_id, safe='')}/preview"
    draft = await forms_db.get_def(conn, form["draft_def_id"])
    return render_form_page(page, project=project, form=form, mode="preview", base=base,
                            title=draft["title"] or xml_form_id, draft_version=draft["version"])


@get(FORM_PATH + "/preview/form.xml")
async def preview_form_xml(project_id: int, xml_form_id: str, page: Page, conn: asyncpg.Connection) -> Response:
    form = await preview_target(page, conn, project_id, xml_form_id)
    xform = await def_xform(conn, form["draft_def_id"])
    return xml_response(with_default_language(xform, page.i18n.locale))


@get(FORM_PATH + "/preview/attachments/{name:str}")
async def preview_form_attachment(project_id: int, xml_form_id: str, name: str, page: Page,
                                  conn: asyncpg.Connection) -> Response:
    form = await preview_target(page, conn, project_id, xml_form_id)
    return await form_attachment_response(conn, form["draft_def_id"], name,
                                          scope=row_scope(page.actor, project_id))


@post(FORM_PATH + "/preview/submission", **SUBMIT)
async def preview_submit(project_id: int, xml_form_id: str, request: Request, page: Page,
                         conn: asyncpg.Connection, state: State) -> Response:
    return await submit_from_page(page, request, conn, state, project_id, xml_form_id,
                                  draft=True)


# --- edit a submission -------------------------------------------------------------------------

EDIT_PATH = FORM_PATH + "/submissions/{instance_id:str}/edit"


async def edit_target(page: Page, conn, project_id: int, xml_form_id: str, instance_id: str):
    page.require("submission.update", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submissions_db.get_submission_for_api(
        conn, form["id"], instance_id, scope=row_scope(page.actor, project_id))
    if row is None:
        raise PageNotFound(page._("There is no such submission."))
    return form, row


@get(EDIT_PATH)
async def edit_page(project_id: int, xml_form_id: str, instance_id: str, page: Page,
                    conn: asyncpg.Connection) -> Response:
    form, row = await edit_target(page, conn, project_id, xml_form_id, instance_id)
    project = await project_or_404(conn, project_id)
    base = (f"/dashboard/projects/{project_id}/forms/{quote(xml_form_id, safe='')}"
            f"/submissions/{quote(instance_id, safe='')}/edit")
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    names = [a["name"] for a in await submissions_db.list_attachments(conn, version["version_id"])
             if a["blob_key"] is not None]
    return render_form_page(page, project=project, form=form, mode="edit", base=base,
                            title=form["title"] or xml_form_id, instance_id=instance_id,
                            instance_attachments=names)


async def current_version(conn, page: Page, project_id: int, form_id: int, instance_id: str):
    version = await submissions_db.get_current_version(
        conn, form_id, instance_id, scope=row_scope(page.actor, project_id))
    if version is None:
        raise PageNotFound(page._("There is no such submission."))
    return version


@get(EDIT_PATH + "/form.xml")
async def edit_form_xml(project_id: int, xml_form_id: str, instance_id: str, page: Page,
                        conn: asyncpg.Connection) -> Response:
    form, _ = await edit_target(page, conn, project_id, xml_form_id, instance_id)
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    xform = await def_xform(conn, version["form_def_id"])
    return xml_response(with_default_language(xform, page.i18n.locale))


@get(EDIT_PATH + "/instance.xml")
async def edit_instance_xml(project_id: int, xml_form_id: str, instance_id: str, page: Page,
                            conn: asyncpg.Connection) -> Response:
    form, _ = await edit_target(page, conn, project_id, xml_form_id, instance_id)
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    await audits.log_audit(conn, page.actor.id, "submission.read",
                           f"project/{project_id}/form/{xml_form_id}/submission/{instance_id}")
    return Response(bytes(version["xml"]), media_type="text/xml",
                    headers={"Cache-Control": "no-store"})


@get(EDIT_PATH + "/attachments/{name:str}")
async def edit_form_attachment(project_id: int, xml_form_id: str, instance_id: str, name: str,
                               page: Page, conn: asyncpg.Connection) -> Response:
    form, _ = await edit_target(page, conn, project_id, xml_form_id, instance_id)
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    return await form_attachment_response(conn, version["form_def_id"], name,
                                          scope=row_scope(page.actor, project_id))


@get(EDIT_PATH + "/files/{name:str}")
async def edit_submission_file(project_id: int, xml_form_id: str, instance_id: str, name: str,
                               page: Page, conn: asyncpg.Connection, state: State) -> Response:
    form, _ = await edit_target(page, conn, project_id, xml_form_id, instance_id)
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    item = next((a for a in await submissions_db.list_attachments(conn, version["version_id"])
                 if a["name"] == name and a["blob_key"] is not None), None)
    if item is None:
        raise PageNotFound()
    content = await state.attachment_store.get(item["blob_key"])
    return stored_file_response(content, name, inline=True)


@post(EDIT_PATH + "/submission", **SUBMIT)
async def edit_submit(project_id: int, xml_form_id: str, instance_id: str, request: Request,
                      page: Page, conn: asyncpg.Connection, state: State) -> Response:
    if page.actor is None or not page.actor.can("submission.update", project_id):
        return refusal(page, Problem("forbidden"))
    try:
        xml, files = await multipart_submission(request)
        result = await ingest_submission(
            conn, state.attachment_store, page.actor, project_id, xml, files,
            user_agent=request.headers.get("user-agent"), expected_form_id=xml_form_id,
        )
        if result.outcome != "edited" or result.instance_id != instance_id:
            raise Problem("submission-conflict", N_("The form did not send an edit of this record."))
    except Problem as problem:
        return refusal(page, problem)
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    version = await current_version(conn, page, project_id, form["id"], instance_id)
    return answer_for(page, result, await version_schema(conn, version["form_def_id"]), draft=False)


# --- public access links -------------------------------------------------------------------------


@get(FORM_PATH + "/public-links")
async def links_page(project_id: int, xml_form_id: str, request: Request, page: Page,
                     conn: asyncpg.Connection, settings: Settings) -> Response:
    page.require(links_service.PERMISSION, project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    project = await project_or_404(conn, project_id)
    links = await links_service.list_public_links(conn, page.actor, project_id, xml_form_id)
    return page.render("fill/links.html", project=project, form=form, links=links,
                       base=base_url(request, settings), error=None,
                       reads_entities=await links_service.reads_entity_list(conn, form))


@post(FORM_PATH + "/public-links")
async def links_create(project_id: int, xml_form_id: str, request: Request, page: Page,
                       conn: asyncpg.Connection, settings: Settings) -> Response:
    page.require(links_service.PERMISSION, project_id)
    data = await request.form()
    try:
        await links_service.create_public_link(
            conn, page.actor, project_id, xml_form_id, str(data.get("display_name", "")),
            data.get("once") == "on",
        )
    except Problem as problem:
        if problem.slug not in ("request-invalid", "public-link-entity-form"):
            raise
        form = await form_or_404(conn, project_id, xml_form_id)
        project = await project_or_404(conn, project_id)
        links = await links_service.list_public_links(conn, page.actor, project_id, xml_form_id)
        reads = await links_service.reads_entity_list(conn, form)
        return page.render("fill/links.html", status=problem.status, project=project, form=form,
                           links=links, base=base_url(request, settings), reads_entities=reads,
                           error=None if reads else page._("Give the link a name."))
    return page.redirect(request.url.path)


@post(FORM_PATH + "/public-links/{link_id:int}/revoke")
async def links_revoke(project_id: int, xml_form_id: str, link_id: int, request: Request,
                       page: Page, conn: asyncpg.Connection) -> Response:
    page.require(links_service.PERMISSION, project_id)
    try:
        await links_service.revoke_public_link(conn, page.actor, project_id, xml_form_id, link_id)
    except Problem as problem:
        if problem.slug == "public-link-not-found":
            raise PageNotFound() from problem
        raise
    return page.redirect(request.url.path.rsplit("/", 2)[0])


# --- a public access link, with no login ---------------------------------------------------------


async def link_or_page(page: Page, conn, token: str):
    """The live link of `token`: (link, actor); a revoked one raises the revoked problem."""
    row = await links_db.get_public_link_by_token(conn, token)
    if row is None:
        raise PageNotFound(page._("There is no form at this link. Check the address."))
    if row["revoked_at"] is not None:
        raise Problem("public-link-revoked")
    form = await forms_db.get_form(conn, row["project_id"], row["xml_form_id"])
    if form is None or form["current_def_id"] is None:
        raise PageNotFound(page._("This form is not available."))
    return row, public_link_actor(row), form


def respondent_of(request: Request) -> str | None:
    """A browser's key for once-only links: derived from its CSRF cookie, which every page
    submission must carry (a browser that sheds its cookies is a new respondent, as in Central;
    the server, not the browser, keeps who has sent)."""
    csrf = request.cookies.get(CSRF_COOKIE)
    return "browser:" + hashlib.sha256(csrf.encode()).hexdigest() if csrf else None


async def used_from_here(conn, request: Request, link) -> bool:
    if not link["once"]:
        return False
    if request.cookies.get(ONCE_COOKIE.format(id=link["id"])) == "sent":
        return True
    respondent = respondent_of(request)
    return respondent is not None and await links_db.respondent_used(conn, link["id"], respondent)


@get("/f/{token:str}")
async def public_page(token: str, request: Request, page: Page, conn: asyncpg.Connection) -> Response:
    try:
        link, _, form = await link_or_page(page, conn, token)
    except Problem:
        return page.render("fill/link_closed.html", status=403, title=page._("Link revoked"),
                           message=page._(REFUSALS["public-link-revoked"]))
    if form["state"] == "closed":
        return page.render("fill/link_closed.html", status=409, title=page._("Form closed"),
                           message=page._(REFUSALS["form-closed"]))
    project = await projects_db.get_project(conn, link["project_id"])
    if project is None or project["archived"]:
        return page.render("fill/link_closed.html", status=409, title=page._("Project archived"),
                           message=page._(REFUSALS["project-archived"]))
    if await used_from_here(conn, request, link):
        return page.render("fill/link_closed.html", status=409, title=page._("Already sent"),
                           message=page._(REFUSALS["public-link-used"]))
    return render_form_page(page, project=None, form=form, mode="public",
                            base=f"/f/{quote(token, safe='')}", title=form["title"] or link["xml_form_id"],
                            once=link["once"], link_name=link["display_name"])


@get("/f/{token:str}/form.xml")
async def public_form_xml(token: str, page: Page, conn: asyncpg.Connection) -> Response:
    _, _, form = await link_or_page(page, conn, token)
    xform = await def_xform(conn, form["current_def_id"])
    return xml_response(with_default_language(xform, page.i18n.locale))


@get("/f/{token:str}/attachments/{name:str}")
async def public_form_attachment(token: str, name: str, page: Page, conn: asyncpg.Connection) -> Response:
    _, _, form = await link_or_page(page, conn, token)
    return await form_attachment_response(conn, form["current_def_id"], name, entity_lists=False)


@post("/f/{token:str}/submission", **SUBMIT)
async def public_submit(token: str, request: Request, page: Page, conn: asyncpg.Connection,
                        state: State) -> Response:
    try:
        link, actor, form = await link_or_page(page, conn, token)
        if await used_from_here(conn, request, link):
            raise Problem("public-link-used")
        xml, files = await multipart_submission(request)
        result = await ingest_submission(
            conn, state.attachment_store, actor, link["project_id"], xml, files,
            user_agent=request.headers.get("user-agent"), expected_form_id=link["xml_form_id"],
            respondent=respondent_of(request) if link["once"] else None,
        )
    except Problem as problem:
        return refusal(page, problem)
    except PageNotFound:
        return refusal(page, Problem("form-not-found"))
    response = answer_for(page, result, await version_schema(conn, form["current_def_id"]), draft=False)
    if link["once"]:
        response.set_cookie(
            ONCE_COOKIE.format(id=link["id"]), "sent", max_age=ONCE_COOKIE_AGE,
            path=f"/f/{token}", httponly=True, samesite="lax",
        )
    return response


ROUTES = [
    fill_list, fill_page, fill_form_xml, fill_form_attachment, fill_submit,
    preview_page, preview_form_xml, preview_form_attachment, preview_submit,
    edit_page, edit_form_xml, edit_instance_xml, edit_form_attachment, edit_submission_file,
    edit_submit, links_page, links_create, links_revoke,
    public_page, public_form_xml, public_form_attachment, public_submit,
]

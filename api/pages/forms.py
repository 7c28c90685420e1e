"""Forms in the browser: coordinators upload and publish, researchers read and download.

- /projects/{pid}/forms: the project's forms; upload an XLSForm or XForm (form.create). A new
  form id makes a new form with a draft; a known one a new draft of that form. Errors of
  pyxform and ODK Validate are shown with their sheet and row; warnings are shown and can be
  confirmed (ignoreWarnings), the file coming back with the confirmation.
- /projects/{pid}/forms/{xmlFormId}: the form: its state (open / closing / closed), the draft
  (its files, publish with a version), every published version with its XLSForm and XForm,
  a link to its submissions.
- .../versions/{defId}/{name}.xml|.xlsx: a version's XForm or XLSForm (the draft's too).

The form's page links to the Web Forms pages of api/pages/fill.py (fill the published form,
try the draft, public access links), each only for a role that api/auth.py allows.

The work is done by api/services/forms.py (what REST calls); api/auth.py decides who may.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

import asyncpg
from litestar import Request, Response, get, post

from api.http import content_disposition
from api.i18n import N_
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.problems import Problem
from api.scopes import row_scope
from api.services import forms as form_service
from api.services import retention
from db import forms as forms_db
from db import projects as projects_db
from db import submissions as submissions_db

add_nav(NavItem("forms", N_("Forms"), "/projects/{project_id}/forms", "form.read", order=30))

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_TYPES = {".xlsx": XLSX_MEDIA, ".xls": "application/vnd.ms-excel", ".xml": "application/xml"}
# A file whose warnings are to be confirmed comes back in the confirmation form.
MAX_CONFIRM_BYTES = 5 * 1024 * 1024
STATES = {"open": N_("Open"), "closing": N_("Closing"), "closed": N_("Closed")}
STATE_HELP = {
    "open": N_("Phones download the form and send submissions."),
    "closing": N_("Phones that have the form may still send it; it is not offered for download."),
    "closed": N_("No phone may download the form or send it."),
}
COMPILE_HEADLINES = {
    "xlsform-invalid": N_("The XLSForm could not be converted."),
    "xlsform-has-warnings": N_("The XLSForm has warnings."),
    "xform-has-warnings": N_("ODK Validate has warnings about the XForm."),
    "xform-invalid": N_("The XForm is not valid."),
    "form-id-missing": N_("The form has no form_id: give one on the settings sheet."),
    "odk-validate-failed": N_("ODK Validate rejected the form."),
    "form-encrypted-unsupported": N_("Encrypted forms are not supported."),
    "form-id-mismatch": N_("The file is a different form (its form_id is not this form's)."),
    "content-type-unsupported": N_("Choose an XLSForm (.xlsx, .xls) or an XForm (.xml) file."),
    "request-invalid": N_("Choose a file to upload."),
    "form-version-exists": N_("This version was published before: give the draft a new version."),
    "draft-missing": N_("The form has no draft to publish."),
    "version-missing": N_("Give a version to publish."),
    "attachment-not-found": N_("The draft does not use a file of that name."),
}


WEB_FORMS_PATH = "/dashboard/projects/{project_id}/forms/{xml_form_id}"  # api/pages/fill.py


def web_forms_links(actor, project_id: int, form) -> dict:
    """The Web Forms pages (api/pages/fill.py) this actor may open for the form: fill the
    published, not closed form (submission.create), try the draft and manage public links
    (form.update, Central's project managers)."""
    base = WEB_FORMS_PATH.format(project_id=project_id,
                                 xml_form_id=quote(form["xml_form_id"], safe=""))
    links = {}
    if (form["current_def_id"] is not None and form["state"] != "closed"
            and actor.can("submission.create", project_id)):
        links["fill"] = base + "/fill"
    if actor.can("form.update", project_id):
        if form["draft_def_id"] is not None:
            links["preview"] = base + "/preview"
        if form["current_def_id"] is not None:
            links["public_links"] = base + "/public-links"
    return links


def form_url(project_id: int, xml_form_id: str) -> str:
    return f"/projects/{project_id}/forms/{quote(xml_form_id, safe='')}"


async def _project(conn: asyncpg.Connection, page: Page, project_id: int):
    project = await projects_db.get_project(conn, project_id)
    if project is None:
        raise PageNotFound(page._("There is no such project."))
    return project


async def _form(conn: asyncpg.Connection, page: Page, project_id: int, xml_form_id: str):
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    if form is None:
        raise PageNotFound(page._("This project has no such form."))
    return form


def compile_error_view(page: Page, problem: Problem) -> dict:
    """What the page shows of a failed upload: a translated headline, and pyxform's / ODK
    Validate's own messages with their sheet and row."""
    headline = COMPILE_HEADLINES.get(problem.slug)
    return {
        "slug": problem.slug,
        "headline": page._(headline) if headline else page._("The form could not be accepted."),
        "problems": problem.extra.get("problems") or (
            [] if headline else [{"message": page.problem_message(problem), "sheet": None,
                                  "row": None}]),
    }


async def _upload_from_request(request: Request) -> tuple[bytes, str, str, bool]:
    """(body, content type, file name, ignore warnings) of an upload or of a confirmation."""
    data = await request.form()
    ignore = data.get("ignoreWarnings") == "true"
    stashed = data.get("stashed")
    if stashed:
        try:
            body = base64.b64decode(stashed, validate=True)
        except (binascii.Error, ValueError):
            body = b""
        name = data.get("filename") or "form.xlsx"
    else:
        upload = data.get("file")
        if upload is None or isinstance(upload, str):
            return b"", "", "", ignore
        body = await upload.read()
        name = upload.filename or "form.xlsx"
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return body, UPLOAD_TYPES.get(suffix, "application/octet-stream"), name, ignore


def _refused_upload(page: Page, problem: Problem, body: bytes, name: str) -> dict:
    """The view of an upload the services refused (re-raises what is not the upload's fault).
    Warnings come with a confirmation form that carries the file back."""
    if problem.status >= 500 or problem.status in (401, 403):
        raise problem
    upload = compile_error_view(page, problem)
    upload["filename"] = name
    if problem.slug in form_service.WARNING_KINDS and len(body) <= MAX_CONFIRM_BYTES:
        upload["confirm"] = {"stashed": base64.b64encode(body).decode("ascii"), "filename": name}
    return upload


# --- the forms of a project -----------------------------------------------------------------


async def _list_context(conn: asyncpg.Connection, page: Page, project_id: int) -> dict:
    forms = []
    for row in await forms_db.list_forms(conn, project_id):
        forms.append({
            "row": row, "url": form_url(project_id, row["xml_form_id"]),
            "title": row["title"] or row["draft_title"] or row["xml_form_id"],
            "submissions": await submissions_db.count_submissions(
                conn, row["id"], scope=row_scope(page.actor, project_id)),
            "web_forms": web_forms_links(page.actor, project_id, row),
        })
    return {"forms": forms, "states": STATES,
            "can_create": page.actor.can("form.create", project_id)}


@get("/projects/{project_id:int}/forms")
async def forms_page(project_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    page.require("form.read", project_id)
    project = await _project(conn, page, project_id)
    return page.render("forms/list.html", project=project, upload=None,
                       **await _list_context(conn, page, project_id))


@post("/projects/{project_id:int}/forms")
async def upload_form_action(
    project_id: int, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    actor = page.require("form.create", project_id)
    project = await _project(conn, page, project_id)
    body, content_type, name, ignore = await _upload_from_request(request)
    try:
        compiled, xlsform = await form_service.compile_upload(
            body, content_type, ignore_warnings=ignore)
        existing = await forms_db.get_form(conn, project_id, compiled.xml_form_id)
        if existing is None:
            await form_service.create_form(conn, actor.id, project_id, compiled, xlsform,
                                           publish=False, xlsform_name=name)
        else:
            await form_service.set_draft_from_upload(
                conn, actor.id, project_id, compiled.xml_form_id, compiled, xlsform, name)
    except Problem as problem:
        upload = _refused_upload(page, problem, body, name)
        return page.render("forms/list.html", status=400, project=project, upload=upload,
                           **await _list_context(conn, page, project_id))
    return page.redirect(form_url(project_id, compiled.xml_form_id) + "?uploaded=1#draft")


# --- one form -------------------------------------------------------------------------------


async def _form_context(conn: asyncpg.Connection, page: Page, project_id: int, form) -> dict:
    actor = page.actor
    versions = await forms_db.list_form_versions(conn, form["id"])
    draft = None
    if form["draft_def_id"] is not None:
        draft = {
            "def": next((v for v in versions if v["id"] == form["draft_def_id"]), None),
            "files": await forms_db.list_form_attachments(conn, form["draft_def_id"]),
        }
    url = form_url(project_id, form["xml_form_id"])
    return {
        "form": form, "url": url, "draft": draft,
        "published": [v for v in versions if v["published_at"] is not None][::-1],
        "title": form["title"] or form["draft_title"] or form["xml_form_id"],
        "submissions": await submissions_db.count_submissions(
            conn, form["id"], scope=row_scope(actor, project_id)),
        "states": STATES, "state_help": STATE_HELP,
        "can_update": actor.can("form.update", project_id),
        "can_read_submissions": actor.can("submission.read", project_id),
        "can_download": actor.can("form.download", project_id),
        "manages_app_users": actor.can("app_user.manage", project_id),
        "web_forms": web_forms_links(actor, project_id, form),
        "retention": await _retention_summary(conn, actor, project_id, form),
        "download": lambda v, kind: f"{url}/versions/{v['id']}/"
        f"{quote(form['xml_form_id'], safe='')}.{kind}",
    }


async def _retention_summary(conn, actor, project_id: int, form) -> dict | None:
    """The form's retention period and how many submissions its next run erases (managers)."""
    if not actor.can("submission.update", project_id):
        return None
    setting = await retention.form_retention(conn, actor, project_id, form["xml_form_id"])
    due = await retention.due_now(conn, actor, project_id, form["xml_form_id"]) if setting else []
    return {"setting": setting, "due": len(due)}


async def _render_form(page: Page, conn, project_id: int, form, *, status: int = 200,
                       upload: dict | None = None, message: str | None = None) -> Response:
    project = await _project(conn, page, project_id)
    context = await _form_context(conn, page, project_id, form)
    return page.render("forms/one.html", status=status, project=project, upload=upload,
                       message=message, **context)


@get("/projects/{project_id:int}/forms/{xml_form_id:str}")
async def form_page(
    project_id: int, xml_form_id: str, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    page.require("form.read", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    messages = {
        "uploaded": page._("The file was accepted as the draft. Check its files, then publish it."),
        "published": page._("The draft was published."),
        "state": page._("The form's state was changed."),
        "file": page._("The file was uploaded."),
    }
    message = next((text for key, text in messages.items()
                    if request.query_params.get(key) == "1"), None)
    return await _render_form(page, conn, project_id, form, message=message)


@post("/projects/{project_id:int}/forms/{xml_form_id:str}/draft")
async def upload_draft_action(
    project_id: int, xml_form_id: str, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    actor = page.require("form.update", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    body, content_type, name, ignore = await _upload_from_request(request)
    try:
        if not body and (await request.form()).get("copy") == "true":
            compiled = xlsform = None  # a draft copied from the published version
        else:
            compiled, xlsform = await form_service.compile_upload(
                body, content_type, ignore_warnings=ignore)
        await form_service.set_draft_from_upload(
            conn, actor.id, project_id, xml_form_id, compiled, xlsform, name or None)
    except Problem as problem:
        upload = _refused_upload(page, problem, body, name)
        return await _render_form(page, conn, project_id, form, status=400, upload=upload)
    return page.redirect(form_url(project_id, xml_form_id) + "?uploaded=1#draft")


@post("/projects/{project_id:int}/forms/{xml_form_id:str}/draft/publish")
async def publish_action(
    project_id: int, xml_form_id: str, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    actor = page.require("form.update", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    version = ((await request.form()).get("version") or "").strip()
    try:
        await form_service.publish_draft(conn, actor.id, project_id, xml_form_id,
                                         version or None,
                                         store=request.app.state.attachment_store)
    except Problem as problem:
        upload = _refused_upload(page, problem, b"", "")
        return await _render_form(page, conn, project_id, form,
                                  status=409 if problem.status == 409 else 400, upload=upload)
    return page.redirect(form_url(project_id, xml_form_id) + "?published=1")


@post("/projects/{project_id:int}/forms/{xml_form_id:str}/draft/files")
async def draft_file_action(
    project_id: int, xml_form_id: str, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    actor = page.require("form.update", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    data = await request.form()
    upload = data.get("file")
    name = data.get("name") or ""
    if upload is None or isinstance(upload, str):
        problem = Problem("request-invalid")
    else:
        content = await upload.read()
        try:
            await form_service.put_draft_attachment(
                conn, actor.id, project_id, xml_form_id, name, upload.content_type, content)
            return page.redirect(form_url(project_id, xml_form_id) + "?file=1#draft")
        except Problem as caught:
            problem = caught
    return await _render_form(page, conn, project_id, form, status=400,
                              upload=_refused_upload(page, problem, b"", ""))


@post("/projects/{project_id:int}/forms/{xml_form_id:str}/state")
async def state_action(
    project_id: int, xml_form_id: str, page: Page, request: Request, conn: asyncpg.Connection
) -> Response:
    actor = page.require("form.update", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    state = (await request.form()).get("state") or ""
    if state not in STATES:
        return await _render_form(page, conn, project_id, form, status=400, upload={
            "headline": page._("Choose open, closing or closed."), "problems": []})
    await form_service.set_form_state(conn, actor.id, project_id, xml_form_id, state)
    return page.redirect(form_url(project_id, xml_form_id) + "?state=1")


@get("/projects/{project_id:int}/forms/{xml_form_id:str}/versions/{def_id:int}/{file_name:str}")
async def version_file(
    project_id: int, xml_form_id: str, def_id: int, file_name: str, page: Page,
    conn: asyncpg.Connection,
) -> Response:
    """A version's XForm (.xml) or XLSForm (.xlsx); drafts only for form.update."""
    page.require("form.download", project_id)
    form = await _form(conn, page, project_id, xml_form_id)
    definition = await forms_db.get_def(conn, def_id)
    kind = file_name.rsplit(".", 1)[-1]
    if (
        definition is None or definition["form_id"] != form["id"] or kind not in ("xml", "xlsx")
        or (definition["published_at"] is None and not page.actor.can("form.update", project_id))
        or (kind == "xlsx" and definition["xlsform"] is None)
    ):
        raise PageNotFound(page._("This form has no such version or file."))
    stem = f"{form['xml_form_id']}-{definition['version'] or 'draft'}"
    if kind == "xml":
        content, media = definition["xform"].encode("utf-8"), "application/xml"
    else:
        content, media = bytes(definition["xlsform"]), XLSX_MEDIA
    return Response(content, media_type=media, headers={
        "Content-Disposition": content_disposition(f"{stem}.{kind}"),
        "X-Content-Type-Options": "nosniff",
    })


ROUTES = [forms_page, upload_form_action, form_page, upload_draft_action, publish_action,
          draft_file_action, state_action, version_file]

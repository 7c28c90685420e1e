"""OpenRosa for ODK Collect: formList, manifest, form media, HEAD/POST submission.

Paths are ODK Central's, under /v1/projects/{pid} (web users: Digest, or Basic over HTTPS,
or a Bearer session) and /v1/key/{token}/projects/{pid} (app users). Every response carries
X-OpenRosa-Version: 1.0 and is text/xml; errors are OpenRosaResponse bodies whose message
Collect shows to the enumerator.
"""

from __future__ import annotations

from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

import asyncpg
from litestar import Request, Response, Router, get, head, post
from litestar.exceptions import HTTPException

from api.auth import Actor, authorize, openrosa_actor
from api.http import (
    base_url,
    content_disposition,
    multipart_submission,
    pooled_connection,
    stored_file_response,
    with_true_status,
)
from api.i18n import N_, I18n, locale_from_headers, localized_problem
from api.problems import Problem, problem_for_exception, slug_for_status
from api.scopes import row_scope
from api.services import entity_files
from api.services.forms import form_or_404
from api.services.ingest import ingest_submission
from api.settings import Settings
from db import entities as entities_db
from db import forms as forms_db

OPENROSA_HEADERS = {"X-OpenRosa-Version": "1.0"}
XML_MEDIA = "text/xml"  # Litestar adds "; charset=utf-8"


def openrosa_response(
    status: int, message: str, *, nature: str = "", headers: dict[str, str] | None = None
) -> Response:
    body = (
        '<OpenRosaResponse xmlns="http://openrosa.org/http/response">'
        f'<message nature="{escape(nature)}">{escape(message)}</message>'
        "</OpenRosaResponse>"
    )
    return Response(
        body.encode("utf-8"),
        status_code=status,
        media_type=XML_MEDIA,
        headers={**OPENROSA_HEADERS, "Date": formatdate(usegmt=True), **(headers or {})},
    )


def require_openrosa_version(request: Request) -> None:
    if request.headers.get("x-openrosa-version", "").strip() != "1.0":
        raise Problem("openrosa-version-missing")


def prefix_of(request: Request, project_id: int) -> str:
    token = request.path_params.get("key_token")
    if token is not None:
        return f"/v1/key/{token}/projects/{project_id}"
    return f"/v1/projects/{project_id}"


async def _usable_form(conn, actor: Actor, project_id: int, xml_form_id: str):
    form = await form_or_404(conn, project_id, xml_form_id, published=True)
    if not actor.may_use_form(project_id, form["id"]):
        raise Problem("forbidden", N_("This app user is not assigned to the form."))
    return form


@get("/formList")
async def form_list(
    project_id: int, request: Request, conn: asyncpg.Connection, settings: Settings
) -> Response:
    require_openrosa_version(request)
    actor = authorize(await openrosa_actor(conn, request), "form.list", project_id)
    wanted = request.query_params.get("formID")
    base = base_url(request, settings) + prefix_of(request, project_id)
    entries = []
    for form in await forms_db.list_forms(conn, project_id):
        if form["current_def_id"] is None or form["state"] != "open":
            continue
        if wanted and form["xml_form_id"] != wanted:
            continue
        if not actor.may_use_form(project_id, form["id"]):
            continue
        media = [
            a for a in await forms_db.list_form_attachments(conn, form["current_def_id"]) if a["exists"]
        ]
        form_url = f"{base}/forms/{quote(form['xml_form_id'], safe='')}"
        entry = (
            "<xform>"
            f"<formID>{escape(form['xml_form_id'])}</formID>"
            f"<name>{escape(form['title'] or form['xml_form_id'])}</name>"
            f"<version>{escape(form['version'] or '')}</version>"
            f"<hash>md5:{form['md5']}</hash>"
            f"<downloadUrl>{escape(form_url)}.xml</downloadUrl>"
        )
        if media:
            entry += f"<manifestUrl>{escape(form_url)}/manifest</manifestUrl>"
        entries.append(entry + "</xform>")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<xforms xmlns="http://openrosa.org/xforms/xformsList">' + "".join(entries) + "</xforms>"
    )
    return Response(body.encode("utf-8"), media_type=XML_MEDIA, headers=OPENROSA_HEADERS)


@get("/forms/{xml_form_id:str}/manifest")
async def form_manifest(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    settings: Settings,
) -> Response:
    require_openrosa_version(request)
    actor = authorize(await openrosa_actor(conn, request), "form.download", project_id)
    form = await _usable_form(conn, actor, project_id, xml_form_id)
    base = base_url(request, settings) + prefix_of(request, project_id)
    scope = row_scope(actor, project_id)  # an app user tied to a centre: its cases only
    files = []
    datasets = {
        r["name"]: r for r in await entities_db.attachment_datasets(conn, form["current_def_id"])
    }
    for item in await forms_db.list_form_attachments(conn, form["current_def_id"]):
        if not item["exists"]:
            continue
        url = f"{base}/forms/{quote(xml_form_id, safe='')}/attachments/{quote(item['name'], safe='')}"
        dataset = datasets.get(item["name"])
        if dataset is None:
            files.append(
                "<mediaFile>"
                f"<filename>{escape(item['name'])}</filename>"
                f"<hash>md5:{item['md5']}</hash>"
                f"<downloadUrl>{escape(url)}</downloadUrl>"
                "</mediaFile>"
            )
            continue
        # An entity list: its hash changes with the list; Collect checks the integrity URL
        # to drop entities deleted on the server (offline entities).
        kind = "approvalEntityList" if dataset["approval_required"] else "entityList"
        integrity = f"{base}/datasets/{quote(dataset['dataset_name'], safe='')}/integrity"
        files.append(
            f'<mediaFile type="{kind}">'
            f"<filename>{escape(item['name'])}</filename>"
            f"<hash>md5:{await entity_files.dataset_hash(conn, dataset['id'], scope)}</hash>"
            f"<downloadUrl>{escape(url)}</downloadUrl>"
            f"<integrityUrl>{escape(integrity)}</integrityUrl>"
            "</mediaFile>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest xmlns="http://openrosa.org/xforms/xformsManifest">' + "".join(files) + "</manifest>"
    )
    return Response(body.encode("utf-8"), media_type=XML_MEDIA, headers=OPENROSA_HEADERS)


@get("/forms/{xml_form_id:str}/attachments/{name:str}")
async def form_attachment(
    project_id: int, xml_form_id: str, name: str, request: Request, conn: asyncpg.Connection
) -> Response:
    # like the form XML, a form file is plain HTTP in Central: no X-OpenRosa-Version needed
    actor = authorize(await openrosa_actor(conn, request), "form.download", project_id)
    form = await _usable_form(conn, actor, project_id, xml_form_id)
    item = await forms_db.get_form_attachment(conn, form["current_def_id"], name)
    if item is not None and item["dataset_id"] is not None:
        return Response(
            await entity_files.attachment_csv(conn, item["dataset_id"],
                                              row_scope(actor, project_id)),
            media_type="text/csv",
            headers={**OPENROSA_HEADERS, "Content-Disposition": content_disposition(name),
                     "X-Content-Type-Options": "nosniff"},
        )
    if item is None or item["content"] is None:
        raise Problem("attachment-not-found")
    return stored_file_response(item["content"], name, headers=OPENROSA_HEADERS)


@get("/forms/{form_ref:str}")
async def key_form_download(
    project_id: int, form_ref: str, request: Request, conn: asyncpg.Connection
) -> Response:
    """The XForm for phones: GET .../forms/{xmlFormId}.xml (the REST route serves web users)."""
    if not form_ref.endswith(".xml"):
        raise Problem("not-found")
    # Central asks for X-OpenRosa-Version only on formList, manifest and submission
    actor = authorize(await openrosa_actor(conn, request), "form.download", project_id)
    form = await _usable_form(conn, actor, project_id, form_ref[:-4])
    definition = await forms_db.get_def(conn, form["current_def_id"])
    return Response(
        definition["xform"].encode("utf-8"), media_type=XML_MEDIA, headers=OPENROSA_HEADERS
    )


@get("/datasets/{name:str}/integrity")
async def dataset_integrity(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection
) -> Response:
    """Which entities of the list still exist (?id=uuid,uuid narrows it), for Collect's
    offline entities: <data><entities><entity id="..."><deleted>false</deleted>..."""
    require_openrosa_version(request)
    actor = await openrosa_actor(conn, request)
    ids = [i for i in (request.query_params.get("id") or "").split(",") if i.strip()]
    rows = await entity_files.integrity(conn, actor, project_id, name, ids or None)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><data><entities>'
        + "".join(
            f'<entity id="{escape(r["uuid"])}"><deleted>{"true" if r["deleted"] else "false"}'
            "</deleted></entity>"
            for r in rows
        )
        + "</entities></data>"
    )
    return Response(body.encode("utf-8"), media_type=XML_MEDIA, headers=OPENROSA_HEADERS)


def make_submission_head(max_bytes: int):
    """HEAD submission: 204 and the largest body accepted (Collect splits bigger uploads)."""

    @head(
        "/submission",
        status_code=204,
        response_headers={**OPENROSA_HEADERS, "X-OpenRosa-Accept-Content-Length": str(max_bytes)},
    )
    async def submission_head(project_id: int, request: Request, conn: asyncpg.Connection) -> None:
        require_openrosa_version(request)
        authorize(await openrosa_actor(conn, request), "submission.create", project_id)

    return submission_head


@post("/submission", status_code=201)
async def submission_post(project_id: int, request: Request) -> Response:
    # The busiest route (every phone's every form): no dependency for Litestar to resolve;
    # the connection is the one `conn` gives every other handler (api/http.py).
    require_openrosa_version(request)
    async with pooled_connection(request.app.state.pool) as conn:
        actor = await openrosa_actor(conn, request)
        authorize(actor, "submission.create", project_id)
        xml, files = await multipart_submission(request)
        result = await ingest_submission(
            conn,
            request.app.state.attachment_store,
            actor,
            project_id,
            xml,
            files,
            device_id=request.query_params.get("deviceID"),
            user_agent=request.headers.get("user-agent"),
        )
    message = {
        "created": "full submission upload was successful!",
        "duplicate": "full submission upload was successful!",
        "edited": "full submission upload was successful!",
    }[result.outcome]
    return openrosa_response(201, message)


def openrosa_problem_handler(request: Request, exc: Problem) -> Response:
    """The message ODK Collect shows, in the phone's language (Collect sends Accept-Language)."""
    i18n = I18n.for_locale(locale_from_headers(request.headers))
    _, _, message = localized_problem(exc, i18n)
    return openrosa_response(exc.status, message, nature="error",
                             headers={"Content-Language": i18n.locale, **exc.headers})


def openrosa_http_exception_handler(request: Request, exc: HTTPException) -> Response:
    exc = with_true_status(exc)
    problem = Problem(slug_for_status(exc.status_code))
    i18n = I18n.for_locale(locale_from_headers(request.headers))
    message = str(exc.detail) if exc.detail and i18n.locale == "en" else i18n.gettext(problem.title)
    return openrosa_response(
        exc.status_code, message, nature="error",
        headers=dict(exc.headers or {}),
    )


def openrosa_unexpected_handler(request: Request, exc: Exception) -> Response:
    """Whatever fails, Collect gets an OpenRosaResponse it can show (a 500 included)."""
    return openrosa_problem_handler(request, problem_for_exception(request, exc))


_HANDLERS = [form_list, form_manifest, form_attachment, dataset_integrity, submission_post]
_EXCEPTION_HANDLERS = {
    Problem: openrosa_problem_handler,
    HTTPException: openrosa_http_exception_handler,
    Exception: openrosa_unexpected_handler,
}


def openrosa_routers(settings: Settings) -> list[Router]:
    handlers = [*_HANDLERS, make_submission_head(settings.max_submission_bytes)]
    return [
        Router(
            path="/v1/projects/{project_id:int}",
            route_handlers=handlers,
            exception_handlers=_EXCEPTION_HANDLERS,
        ),
        Router(
            path="/v1/key/{key_token:str}/projects/{project_id:int}",
            route_handlers=[*handlers, key_form_download],
            exception_handlers=_EXCEPTION_HANDLERS,
        ),
    ]

"""OpenRosa for ODK Collect: formList, manifest, form media, HEAD/POST submission.

Paths are ODK Central's, under /v1/projects/{pid} (web users: Digest, or Basic over HTTPS,
or a Bearer session) and /v1/key/{token}/projects/{pid} (app users). Every response carries
X-OpenRosa-Version: 1.0 and is text/xml; errors are OpenRosaResponse bodies whose message
Collect shows to the enumerator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import time
from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

import asyncpg
from litestar import Request, Response, Router, get, head, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from api.auth import DIGEST_REALM, Actor, actor_from_user_row, authorize, resolve_actor
from api.http import content_disposition, stored_file_response, with_true_status
from api.i18n import N_, I18n, locale_from_headers, localized_problem
from api.ingest import IncomingFile, ingest_submission
from api.problems import Problem, slug_for_status
from api.services import entities as entities_service
from api.settings import Settings
from db import entities as entities_db
from db import forms as forms_db
from db import nonces as nonces_db
from db import users as users_db

OPENROSA_HEADERS = {"X-OpenRosa-Version": "1.0"}
XML_MEDIA = "text/xml"  # Litestar adds "; charset=utf-8"
NONCE_TTL = 300
_DIGEST_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


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


def _is_https(request: Request) -> bool:
    """The request came over HTTPS. Behind a proxy, uvicorn sets the scheme from
    X-Forwarded-Proto only when the proxy is trusted (`serve --forwarded-allow-ips`)."""
    return request.url.scheme == "https"


def _nonce_secret(request: Request) -> bytes:
    """Shared by every worker process (db/migrations/0005), loaded in the app's lifespan."""
    return request.app.state.digest_secret


def make_nonce(secret: bytes, now: float | None = None) -> str:
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{stamp}:{mac}".encode()).decode().rstrip("=")


def nonce_state(secret: bytes, nonce: str) -> str:
    """'ok', 'stale' (ours but too old) or 'invalid'."""
    try:
        padded = nonce + "=" * (-len(nonce) % 4)
        stamp, mac = base64.urlsafe_b64decode(padded).decode().split(":", 1)
        expected = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    except (ValueError, UnicodeDecodeError):
        return "invalid"
    if not hmac.compare_digest(mac, expected):
        return "invalid"
    return "ok" if time.time() - int(stamp) <= NONCE_TTL else "stale"


def challenge_headers(request: Request, *, stale: bool = False) -> dict[str, str]:
    digest = (
        f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm=MD5, '
        f'nonce="{make_nonce(_nonce_secret(request))}"' + (", stale=true" if stale else "")
    )
    # One WWW-Authenticate header per scheme would be ideal; Litestar headers are a mapping,
    # so the schemes are joined in one field as RFC 9110 allows.
    if _is_https(request):
        return {"WWW-Authenticate": f'{digest}, Basic realm="{DIGEST_REALM}", charset="UTF-8"'}
    return {"WWW-Authenticate": digest}


def parse_digest(header: str) -> dict[str, str]:
    params = {}
    for match in _DIGEST_PARAM.finditer(header[len("digest ") :]):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = value.replace('\\"', '"')
    return params


def _request_uri(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


_MAX_NONCE_COUNT = 0xFFFFFFFF  # nc is 8 hex digits (RFC 7616)
_nonce_uses = itertools.count()


async def _fresh_count(conn, nonce: str, nc: str) -> bool:
    """Accept each (nonce, nc) once, in the database that every worker process shares: a
    Digest header cannot be replayed on another worker. Counts older than a nonce's life are
    deleted every 1,000 logins."""
    try:
        count = int(nc, 16)
    except ValueError:
        return False
    if not 0 < count <= _MAX_NONCE_COUNT or len(nonce) > 200:
        return False
    if next(_nonce_uses) % 1000 == 0:
        await nonces_db.delete_old(conn, NONCE_TTL)
    return await nonces_db.accept_count(conn, nonce, count)


async def _digest_actor(conn, request: Request, header: str) -> Actor:
    """RFC 7616 Digest (MD5, qop=auth), as ODK Collect answers the challenge. The header must
    name this request's URI, and each (nonce, nc) is accepted once."""
    params = parse_digest(header)
    required = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
    if (
        any(k not in params for k in required)
        or params["realm"] != DIGEST_REALM
        or params["qop"] != "auth"
    ):
        raise Problem("auth-required", headers=challenge_headers(request))
    state = nonce_state(_nonce_secret(request), params["nonce"])
    if state != "ok":
        raise Problem("auth-required", headers=challenge_headers(request, stale=state == "stale"))
    if params["uri"] != _request_uri(request):  # exactly this request's target
        raise Problem(
            "auth-failed", N_("The Digest header is for another address."),
            headers=challenge_headers(request),
        )
    row = await users_db.get_user_by_email(conn, params["username"])
    ha1 = row["digest_ha1"] if row is not None else None
    ha2 = hashlib.md5(f"{request.method}:{params['uri']}".encode()).hexdigest()
    material = f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}"
    expected = hashlib.md5(material.encode()).hexdigest()
    if ha1 is None or not hmac.compare_digest(expected, params["response"].lower()):
        raise Problem(
            "auth-failed",
            N_("Wrong username or password (the username is the email address, in lower case)."),
            headers=challenge_headers(request),
        )
    if not await _fresh_count(conn, params["nonce"], params["nc"]):
        raise Problem("auth-required", headers=challenge_headers(request, stale=True))
    return await actor_from_user_row(conn, row)


async def openrosa_actor(conn, request: Request) -> Actor:
    """Authenticate an OpenRosa request, or raise a 401 with the challenge Collect answers."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("digest "):
        return await _digest_actor(conn, request, header)
    if header.lower().startswith("basic ") and not _is_https(request):
        raise Problem(
            "auth-required",
            N_("Basic authentication is only accepted over HTTPS; use Digest."),
            headers=challenge_headers(request),
        )
    actor = await resolve_actor(
        conn, request.headers, request.path_params, https=_is_https(request)
    )
    if actor is None:
        raise Problem("auth-required", headers=challenge_headers(request))
    return actor


def require_openrosa_version(request: Request) -> None:
    if request.headers.get("x-openrosa-version", "").strip() != "1.0":
        raise Problem("openrosa-version-missing")


def base_url(request: Request, settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = request.headers.get("host", "localhost")
    return f"{request.url.scheme}://{host}"


def prefix_of(request: Request, project_id: int) -> str:
    token = request.path_params.get("key_token")
    if token is not None:
        return f"/v1/key/{token}/projects/{project_id}"
    return f"/v1/projects/{project_id}"


async def _usable_form(conn, actor: Actor, project_id: int, xml_form_id: str):
    form = await forms_db.get_form(conn, project_id, xml_form_id)
    if form is None or form["current_def_id"] is None:
        raise Problem("form-not-found")
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
            f"<hash>md5:{await entities_service.dataset_hash(conn, dataset['id'])}</hash>"
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
            await entities_service.attachment_csv(conn, item["dataset_id"]),
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


async def multipart_submission(request: Request) -> tuple[bytes, list[IncomingFile]]:
    """The `xml_submission_file` part and the other file parts of a multipart submission, as
    Collect sends it to OpenRosa and as Central also takes it on REST POST .../submissions."""
    form = await request.form()
    xml_part = form.get("xml_submission_file")
    if xml_part is None:
        raise Problem("submission-file-missing")
    xml = await xml_part.read() if isinstance(xml_part, UploadFile) else str(xml_part).encode()
    files = []
    for field_name, value in form.multi_items():
        if field_name == "xml_submission_file" or not isinstance(value, UploadFile):
            continue
        files.append(
            IncomingFile(value.filename or field_name, await value.read(), value.content_type)
        )
    return xml, files


@get("/datasets/{name:str}/integrity")
async def dataset_integrity(
    project_id: int, name: str, request: Request, conn: asyncpg.Connection
) -> Response:
    """Which entities of the list still exist (?id=uuid,uuid narrows it), for Collect's
    offline entities: <data><entities><entity id="..."><deleted>false</deleted>..."""
    require_openrosa_version(request)
    actor = await openrosa_actor(conn, request)
    ids = [i for i in (request.query_params.get("id") or "").split(",") if i.strip()]
    rows = await entities_service.integrity(conn, actor, project_id, name, ids or None)
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
    # the connection is the one `conn` gives every other handler (api/app.py).
    from api.app import pooled_connection  # (api.app builds this module's routers)

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
    from api.app import problem_for_exception

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


"""What every HTTP surface (REST, OpenRosa, pages) shares: how a stored file is served and how a
download is named; the pooled connection of a request, whether it came over HTTPS, the
server's base URL, the X-Extended-Metadata switch and the multipart body of a submission. No
routes here, and no surface is imported: api/app.py, api/v1, api/openrosa.py and api/pages
import this module.

Stored files (submission attachments, form media, entity lists) come from anyone who may submit
or upload: a phone, a public-link holder, a manager. Served from our own origin, an HTML, SVG,
XML or JavaScript file would run in the session of whoever opens it (stored script), and a
script served under `'self'` would defeat every page's Content-Security-Policy. So one function
serves every stored file, on every route:

- the type is derived from the file's name, never the uploader's Content-Type;
- only raster images, audio and video may be shown inline, and only where the route allows it;
  everything else is `Content-Disposition: attachment` with a neutral type (CSV stays
  `text/csv`, which no browser runs; all else is `application/octet-stream`);
- every response carries `X-Content-Type-Options: nosniff` and
  `Content-Security-Policy: default-src 'none'; sandbox`, so even a file opened directly runs
  nothing and reaches nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import quote

import asyncpg
from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException

from api.problems import DATABASE_GONE, Problem, log
from api.settings import Settings
from forms.submission import IncomingFile

IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
               "webp": "image/webp", "bmp": "image/bmp"}
AUDIO_TYPES = {"m4a": "audio/mp4", "mp3": "audio/mpeg", "ogg": "audio/ogg", "oga": "audio/ogg",
               "opus": "audio/ogg", "wav": "audio/wav", "aac": "audio/aac", "amr": "audio/amr",
               "3gpp": "audio/3gpp", "webm": "audio/webm", "flac": "audio/flac"}
VIDEO_TYPES = {"mp4": "video/mp4", "3gp": "video/3gpp", "mov": "video/quicktime",
               "mkv": "video/x-matroska"}
# Types a browser may be given to render inline (no HTML, no SVG, no XML: those can run script).
INLINE_TYPES = frozenset({*IMAGE_TYPES.values(), *AUDIO_TYPES.values(), *VIDEO_TYPES.values()})
# Passive types kept on download: a browser renders none of them as a document that runs script.
PASSIVE_TYPES = {"csv": "text/csv; charset=utf-8"}
NEUTRAL_TYPE = "application/octet-stream"
STORED_FILE_CSP = "default-src 'none'; sandbox"


# Litestar answers a multipart body of more parts than `multipart_form_part_limit` (1,000)
# with a 400 whose text is "Request Entity Too Large" (a FIXME of theirs until 3.0).
_TOO_MANY_PARTS = "Request Entity Too Large"


def with_true_status(exc: HTTPException) -> HTTPException:
    """The framework's exception as every surface answers it: a body of too many parts (files
    and fields) is a 413 (payload-too-large), as its text says, not a 400."""
    if exc.status_code == 400 and exc.detail == _TOO_MANY_PARTS:
        return HTTPException(status_code=413, detail="The request has more files and fields "
                             "than the server accepts in one request.", headers=exc.headers)
    return exc


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def media_kind(name: str) -> tuple[str, str]:
    """("image" | "audio" | "video" | "file", the content type to serve it inline)."""
    ext = extension(name)
    for kind, types in (("image", IMAGE_TYPES), ("audio", AUDIO_TYPES), ("video", VIDEO_TYPES)):
        if ext in types:
            return kind, types[ext]
    return "file", NEUTRAL_TYPE


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment` (or `inline`) with an ASCII fallback name and the exact UTF-8 name (RFC 6266):
    quotes, backslashes, control characters and non-ASCII never reach the quoted form."""
    ascii_name = "".join(
        ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename
    )
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def stored_file_response(
    content: bytes,
    name: str,
    *,
    inline: bool = False,
    headers: Mapping[str, str] | None = None,
    cache_control: str = "private, no-store",
) -> Response:
    """The one response for a stored file, on every route (see the module's docstring).
    `inline=True` lets a raster image, audio or video file be shown in the page; any other
    file is a download whatever the caller asks."""
    kind, inline_type = media_kind(name)
    show_inline = inline and kind != "file"
    media_type = inline_type if kind != "file" else PASSIVE_TYPES.get(extension(name), NEUTRAL_TYPE)
    return Response(
        content,
        media_type=media_type,
        headers={
            **(headers or {}),
            "Content-Disposition": content_disposition(name, "inline" if show_inline else "attachment"),
            "Content-Security-Policy": STORED_FILE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": cache_control,
        },
    )


async def acquire(pool: asyncpg.Pool, timeout: float | None = None) -> asyncpg.Connection:
    """A pool connection, or a 503 while the database does not answer."""
    try:
        return await pool.acquire(timeout=timeout)
    # any PostgreSQL error while acquiring is one of opening a connection: the database
    # refuses connections (not accepting, too many, starting up), which is unavailability
    except (*DATABASE_GONE, asyncpg.PostgresError, OSError, TimeoutError) as exc:
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        raise Problem("database-unavailable") from exc


@asynccontextmanager
async def pooled_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A request's pool connection, taken once the request's body is here (BoundedBody).
    When the database went away, the pool's other connections are dropped too, so that the
    next requests reconnect instead of failing one by one."""
    conn = await acquire(pool)
    try:
        yield conn
    except DATABASE_GONE:
        conn.terminate()  # its state is unknown: it leaves the pool
        await pool.expire_connections()
        raise
    finally:
        await pool.release(conn)


def is_https(request: Request) -> bool:
    """The request came over HTTPS. Behind a proxy, uvicorn sets the scheme from
    X-Forwarded-Proto only when the proxy is trusted (`serve --forwarded-allow-ips`)."""
    return request.url.scheme == "https"


def base_url(request: Request, settings: Settings) -> str:
    """The server's address as clients reach it: FIELDSURVEY_PUBLIC_URL, else this request's."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = request.headers.get("host", "localhost")
    return f"{request.url.scheme}://{host}"


def only_this_machine(server: str) -> bool:
    """Whether an address (base_url's) names this machine only (localhost, 127.0.0.1, ::1,
    0.0.0.0), which no phone and no other computer can reach."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(server).hostname or "").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def extended_metadata(request: Request) -> bool:
    """Central's `X-Extended-Metadata: true`: answers name their actors in full."""
    return request.headers.get("x-extended-metadata", "").strip().lower() == "true"


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

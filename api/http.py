"""What every HTTP surface (REST, OpenRosa, pages) shares: how a stored file is served and how a
download is named.

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

from collections.abc import Mapping
from urllib.parse import quote

from litestar import Response
from litestar.exceptions import HTTPException

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

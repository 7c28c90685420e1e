"""Identifiers that need percent-encoding in a path (a form id `a/b`, a version `1 0`).

ASGI servers decode the path before routing, so `/forms/a%2Fb/versions` would be routed as
`/forms/a/b/versions`. ODK Central routes on the encoded path; to match it, `EncodedSlashes`
decodes the raw path itself with each `%2F` turned into a placeholder character that no route
splits on, and `restore_slashes` (a route middleware, run after routing) turns placeholders in
the path parameters back into `/`. Other escapes (`%20`, `%25`, UTF-8) decode as usual.
A path that literally contains the placeholder (U+E000, private use) reads it as `/`.
"""

from __future__ import annotations

from urllib.parse import unquote

from litestar import Request
from litestar.types import ASGIApp, Receive, Scope, Send

SLASH_PLACEHOLDER = "\ue000"


def _decoded_keeping_slashes(raw_path: bytes) -> str | None:
    """The decoded path with encoded slashes as placeholders, or None when it has none."""
    text = raw_path.decode("latin-1").split("?", 1)[0]  # some test transports keep the query
    if "%2f" not in text.lower():
        return None
    pieces = [unquote(part) for part in text.replace("%2f", "%2F").split("%2F")]
    return SLASH_PLACEHOLDER.join(pieces)


class EncodedSlashes:
    """ASGI wrapper around the application's router (see the module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw = scope.get("raw_path")
            path = _decoded_keeping_slashes(raw) if raw else None
            if path is not None:
                scope["path"] = path
        await self.app(scope, receive, send)


def restore_slashes(app: ASGIApp) -> ASGIApp:
    """Route middleware: placeholders in path parameters and the path become `/` again."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        params = scope.get("path_params")
        if params and any(
            isinstance(v, str) and SLASH_PLACEHOLDER in v for v in params.values()
        ):
            scope["path_params"] = {
                k: v.replace(SLASH_PLACEHOLDER, "/") if isinstance(v, str) else v
                for k, v in params.items()
            }
        if SLASH_PLACEHOLDER in scope.get("path", ""):
            scope["path"] = scope["path"].replace(SLASH_PLACEHOLDER, "/")
        await app(scope, receive, send)

    return middleware


def encoded_path(request: Request) -> str:
    """The request's path as the client encoded it (for links that must lead back here)."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else request.url.path

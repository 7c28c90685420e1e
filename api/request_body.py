"""Every request body is read whole, bounded in size and in time, before the application sees
the request: a handler (and so its database connection, api/app.py `provide_conn`) starts
only once its body is here. A client that sends less than its Content-Length and then goes
quiet gets a 408 after `body_idle_seconds`; one that trickles gets it after `body_seconds`;
neither holds a connection of the pool meanwhile. Bodies over 1 MiB are spooled to a
temporary file, so memory stays bounded too.

An ASGI middleware rather than per-handler reads: Litestar resolves a handler's dependencies
(the connection included) before it reads a `data` body, for every route. Litestar runs it
once the request is routed, so its 408 and 413 are Problems that the route's own exception
handlers answer, as any other error of that route: OpenRosaResponse XML on the OpenRosa
routers (api/openrosa.py), problem+json on REST, the page's answer on pages, each in the
request's language. No path is guessed.
"""

from __future__ import annotations

import asyncio
import tempfile

from api.i18n import N_
from api.problems import Problem

SPOOL_BYTES = 1 << 20
REPLAY_CHUNK = 1 << 16
_NO_BODY_METHODS = {"GET", "HEAD", "OPTIONS", "DELETE"}
_SLUGS = {408: "request-timeout", 413: "payload-too-large"}
# how long a refused body is still read (and dropped) so that a proxy passes the 413 on
DRAIN_SECONDS = 5.0


class BoundedBody:
    def __init__(self, app, *, max_bytes: int, idle_seconds: float, total_seconds: float):
        self.app = app
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self.total_seconds = total_seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if scope["method"] in _NO_BODY_METHODS and length in (None, b"0") and (
            b"transfer-encoding" not in headers
        ):
            await self.app(scope, receive, send)
            return
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise _refusal(413, N_(
                "The body is %(size)s bytes; the server accepts at most %(limit)s."),
                {"size": int(length), "limit": self.max_bytes})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_seconds
        chunks: list[bytes] = []
        spool = None
        size = 0
        while True:
            wait = min(self.idle_seconds, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):  # (no task per chunk, as wait_for makes)
                    message = await receive()
            except TimeoutError:
                if spool is not None:
                    spool.close()
                raise _refusal(408, N_(
                    "Only %(size)s bytes of the body arrived before the server stopped waiting; "
                    "send it again."), {"size": size}) from None
            if message["type"] == "http.disconnect":
                if spool is not None:
                    spool.close()
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                if spool is not None:
                    spool.close()
                await _drain(receive, message, limit=self.max_bytes)
                raise _refusal(413, N_(
                    "The body is larger than the server accepts (%(limit)s bytes)."),
                    {"limit": self.max_bytes})
            if spool is None and size > SPOOL_BYTES:
                spool = tempfile.TemporaryFile()
                spool.writelines(chunks)
                chunks = []
            if spool is not None:
                spool.write(body)
            elif body:
                chunks.append(body)
            if not message.get("more_body", False):
                break
        try:
            await self.app(scope, _replay(chunks, spool, size, receive), send)
        finally:
            if spool is not None:
                spool.close()


async def _drain(receive, message, *, limit: int, seconds: float = DRAIN_SECONDS) -> None:
    """Read and drop what is left of a refused body, at most `limit` more bytes or `seconds`:
    a proxy in front (Caddy) that is still sending the body when the server closes the
    connection answers 502 instead of passing the 413 on. Beyond those bounds the connection
    is closed as before."""
    drained = 0
    try:
        async with asyncio.timeout(seconds):
            while message.get("more_body", False) and drained <= limit:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                drained += len(message.get("body", b""))
    except TimeoutError:
        return


def _refusal(status: int, detail: str, params: dict) -> Problem:
    # the rest of the body is never read: the connection is closed after the answer
    return Problem(_SLUGS[status], detail, params=params, headers={"Connection": "close"})


def _replay(chunks: list[bytes], spool, size: int, receive):
    """The `receive` the application gets: the body read already, then the client's own
    (for http.disconnect)."""
    done = False
    sent = 0
    if spool is not None:
        spool.seek(0)

    async def replayed():
        nonlocal done, sent
        if done:
            return await receive()
        if spool is None:
            done = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        chunk = spool.read(REPLAY_CHUNK)
        sent += len(chunk)
        more = sent < size
        if not more:
            done = True
            spool.close()
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replayed

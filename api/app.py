"""create_app(settings): the Litestar application, its lifespan, error handling and auth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.middleware import DefineMiddleware

from api.auth import Actor, resolve_actor
from api.http import acquire, is_https, pooled_connection, with_true_status
from api.i18n import I18n, locale_from_headers, localized_problem, localized_problem_json
from api.metrics import count_requests, metrics, watch_pool
from api.pages.web import (
    csrf_config,
    error_page,
    http_exception_page,
    is_page_path,
    page_of,
    wants_html,
)
from api.paths import EncodedSlashes, restore_slashes
from api.problems import DATABASE_GONE, Problem, problem_for_exception, slug_for_status
from api.request_body import BoundedBody
from api.settings import Settings
from db.embedded import start_embedded_postgres
from db.migrate import DatabaseNewerThanCode, apply_migrations
from db.pool import close_pool, open_pool
from db.secrets import get_secret
from forms.compile import java_available
from forms.odk_validate import shared_validator

log = logging.getLogger("fieldsurvey")
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(request: Request, problem: Problem) -> Response:
    """problem+json, its title, detail and message in the request's language (Accept-Language)."""
    i18n = I18n.for_locale(locale_from_headers(request.headers))
    body = localized_problem_json(problem, i18n, request.url.path)
    return Response(
        body,
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Date": formatdate(usegmt=True), "Content-Language": i18n.locale,
                 **problem.headers},
    )


def problem_from_http_exception(exc: HTTPException) -> Problem:
    status = exc.status_code
    slug = slug_for_status(status)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
        slug = "request-invalid"
    elif status == 400 and isinstance(exc.__cause__, SerializationException):
        slug = "json-invalid"  # Central's 400.1: the body could not be parsed
    problem = Problem(slug, exc.detail if exc.detail else None, extra=extra)
    if problem.status != status:
        # a status the catalogue has no slug for: keep it, with a code of the same family
        problem.status = status
        problem.code = status + 0.99
    problem.headers = dict(exc.headers or {})
    return problem


def problem_for_unrouted(path: str) -> Problem:
    """Central answers 404.2 to a path without an API version, 404.1 to an unknown /v1 path."""
    if path == "/v1" or path.startswith("/v1/"):
        return Problem("not-found")
    return Problem("api-version-missing")


def handle_problem(request: Request, exc: Problem) -> Response:
    if is_page_path(request.url.path):  # a page: an error page in the user's language
        _, _, message = localized_problem(exc, page_of(request).i18n)
        return error_page(request, exc.status, message)
    return problem_response(request, exc)


def handle_http_exception(request: Request, exc: HTTPException) -> Response:
    exc = with_true_status(exc)
    path = request.url.path
    if isinstance(exc, NotFoundException) and not isinstance(exc, Problem):
        # Litestar's own 404: no route matched (handlers raise Problem for missing things).
        # A browser asking for a page gets the 404 page; programs get Central's problem.
        if is_page_path(path) and wants_html(request):
            return http_exception_page(request, exc)
        return problem_response(request, problem_for_unrouted(path))
    if is_page_path(path):
        return http_exception_page(request, exc)
    return problem_response(request, problem_from_http_exception(exc))


def handle_unexpected(request: Request, exc: Exception) -> Response:
    problem = problem_for_exception(request, exc)
    if is_page_path(request.url.path):
        return error_page(request, problem.status)  # a page in the user's language
    return problem_response(request, problem)


async def add_date_header(response: Response) -> Response:
    """Every response carries Date (OpenRosa requires it), whatever server runs the app."""
    if "Date" not in response.headers:  # (OpenRosa answers have theirs already)
        response.headers["Date"] = formatdate(usegmt=True)
    return response


async def provide_conn(state: State) -> AsyncIterator[asyncpg.Connection]:
    """The `conn` dependency of every handler that names it: `pooled_connection`."""
    async with pooled_connection(state.pool) as conn:
        yield conn


@get("/health")
async def health(state: State) -> Response:
    """Whether the server and its database answer: 200, or 503 (problem+json)."""
    try:
        conn = await acquire(state.pool, timeout=2)
        try:
            await conn.fetchval("SELECT 1", timeout=2)
        finally:
            await state.pool.release(conn)
    except (Problem, *DATABASE_GONE, OSError, TimeoutError) as exc:
        await state.pool.expire_connections()
        if not isinstance(exc, Problem):
            log.warning("health: database unavailable: %s: %s", type(exc).__name__, exc)
        problem = Problem("database-unavailable")  # what failed is in the log, not here
        return Response(
            problem.to_json(instance="/health"), status_code=problem.status,
            media_type=PROBLEM_MEDIA_TYPE,
        )
    return Response({"status": "ok", "database": "ok"})


async def provide_actor(request: Request, conn: asyncpg.Connection) -> Actor | None:
    return await resolve_actor(
        conn, request.headers, request.path_params, https=is_https(request),
        ip=request.client.host if request.client else None, settings=request.app.state.settings,
    )


async def provide_settings(state: State) -> Settings:
    return state.settings


@asynccontextmanager
async def start_validator(app: Litestar) -> AsyncIterator[None]:
    """ODK Validate's JVM (forms/odk_validate.py), started once beside the server and kept:
    no upload waits for Java to start."""
    if java_available():
        shared_validator().start_in_background()
    yield


def background_loops() -> list:
    """The app's background loops: lifespans after the one that opens the pool."""
    from api.services.events import outbox_in_background
    from api.services.housekeeping import purge_in_background
    from api.services.publications import publish_in_background
    from api.services.summaries import fold_in_background

    return [fold_in_background, publish_in_background, purge_in_background, outbox_in_background]


def create_app(settings: Settings) -> Litestar:
    from api.bootstrap import bootstrap
    from api.openrosa import openrosa_routers
    from api.pages import pages_router, static_routers
    from api.pages.webforms import webforms_routes
    from api.storage import attachment_store
    from api.v1 import route_handlers as v1_handlers

    csrf = csrf_config(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        dsn = settings.database_url or start_embedded_postgres(settings.data_dir)
        pool = await open_pool(dsn)
        store = None
        try:
            async with pool.acquire() as conn:
                try:
                    await apply_migrations(conn)  # one migrator at a time (advisory lock)
                except DatabaseNewerThanCode as exc:
                    log.critical("fieldsurvey: %s", exc)  # the reason, before the traceback
                    raise
                await bootstrap(conn, settings)
            app.state.pool = pool
            app.state.dsn = dsn
            # exports and OData pages read their snapshot here (a replica, when there is one)
            app.state.read_dsn = settings.read_database_url or dsn
            app.state.settings = settings
            app.state.attachment_store = store = attachment_store(settings, dsn)
            # exports and OData pages stream on their own connections: at most this many at once
            app.state.stream_slots = asyncio.Semaphore(settings.max_streams)
            async with pool.acquire() as conn:
                app.state.digest_secret = await get_secret(conn, "digest-nonce")
                app.state.csrf_secret = (await get_secret(conn, "csrf")).hex()
            yield
        finally:
            # shutdown never depends on what failed before: each step is tried, and logged
            if store is not None:
                try:
                    await store.close()
                except Exception:
                    log.exception("closing the attachment store failed")
            await close_pool(pool)

    app = Litestar(
        route_handlers=[
            health, metrics, *v1_handlers, *openrosa_routers(settings),
            pages_router(settings, csrf),
            *static_routers(), *webforms_routes(),
        ],
        lifespan=[lifespan, start_validator, *background_loops(), watch_pool],
        dependencies={
            "conn": Provide(provide_conn),
            "actor": Provide(provide_actor),
            "settings": Provide(provide_settings),
        },
        exception_handlers={
            Problem: handle_problem,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        middleware=[
            restore_slashes,
            DefineMiddleware(
                BoundedBody,
                max_bytes=settings.max_submission_bytes,
                idle_seconds=settings.body_idle_seconds,
                total_seconds=settings.body_seconds,
            )
        ],
        request_max_body_size=settings.max_submission_bytes,
        after_request=add_date_header,
        debug=False,
    )
    app.asgi_handler = EncodedSlashes(app.asgi_handler)  # form ids and versions with `/`
    app.asgi_handler = count_requests(app.asgi_handler)  # /metrics (api/metrics.py)
    return app


def app_from_env() -> Litestar:
    """The app for `uvicorn --factory api.app:app_from_env` (several worker processes)."""
    return create_app(Settings.from_env())

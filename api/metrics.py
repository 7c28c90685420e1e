"""/metrics in Prometheus's text format (prometheus-client), for the monitoring of a server.

- `fieldsurvey_requests_total{method,route,status}` and
  `fieldsurvey_request_duration_seconds{method,route}` (a histogram): the route is the path
  template, never the path with its ids (`count_requests`, around the app; Litestar's own
  Prometheus middleware added 0.2-0.4 ms of server CPU a submission in bench/ingest.py, this
  one no measurable cost).
- `fieldsurvey_submissions_stored_total{outcome}`: submissions stored (created, edited,
  duplicate, draft), counted after their commit (api/ingest.py).
- `fieldsurvey_db_pool_connections{state}`: the database pool's connections in use and open.
- `fieldsurvey_newest_publication_age_seconds`, `fieldsurvey_newest_backup_age_seconds`: how
  long ago the newest publication, and the newest backup, were made (read from the database
  at each scrape; absent while there is none).

With several worker processes (`serve --workers N`), each one writes its counts to files in
PROMETHEUS_MULTIPROC_DIR (`fieldsurvey serve` makes a fresh one) and a scrape of any worker
sums them (prometheus-client's multiprocess mode).

Who may read it: a request made on this machine straight to the server (a loopback peer and
no X-Forwarded-For: not through the proxy), or one carrying `Authorization: Bearer` with
FIELDSURVEY_METRICS_TOKEN. Through Caddy without the token it is refused (401, or 403 with
other credentials): the counts say when and how much data comes in.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from api.problems import Problem
from api.settings import Settings

PREFIX = "fieldsurvey"
POOL_REFRESH_SECONDS = 5

SUBMISSIONS_STORED = Counter(
    f"{PREFIX}_submissions_stored", "Submissions stored (committed), by outcome", ["outcome"]
)
POOL_CONNECTIONS = Gauge(
    f"{PREFIX}_db_pool_connections", "Database pool connections: in_use, open",
    ["state"], multiprocess_mode="livesum",
)

NEWEST_PUBLICATION = "SELECT max(published_at) FROM publications"


REQUESTS = Counter(
    f"{PREFIX}_requests", "HTTP requests, by method, route (its template) and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Time to the end of the response (a stream: its last byte), by method and route",
    ["method", "route"],
)
# the labelled children, looked up once each (a dict lookup per request, not labels()'s lock)
_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[tuple[str, str], Any] = {}


def count_requests(app: ASGIApp) -> ASGIApp:
    """Wraps the application (outside its error handling, so that a refusal is counted with
    its own status): each routed request counted by method, route template (Litestar's router
    leaves it in the scope) and status, and its time to the last byte observed. /metrics
    itself and paths no route matched are not counted. About 2 us a request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # the connection ended before a response started

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_counting)
        finally:
            route = scope.get("path_template")
            if route is not None and route != "/metrics":
                method = scope["method"]
                counter = _counters.get((method, route, status))
                if counter is None:
                    counter = _counters[(method, route, status)] = REQUESTS.labels(
                        method, route, str(status))
                histogram = _histograms.get((method, route))
                if histogram is None:
                    histogram = _histograms[(method, route)] = LATENCY.labels(method, route)
                counter.inc()
                histogram.observe(time.perf_counter() - started)

    return middleware


def count_stored_submission(outcome: str) -> None:
    SUBMISSIONS_STORED.labels(outcome).inc()


@asynccontextmanager
async def watch_pool(app: Litestar) -> AsyncIterator[None]:
    """A lifespan: this process's pool counts, every few seconds (each worker its own)."""

    async def refresh() -> None:
        while True:
            pool: asyncpg.Pool | None = getattr(app.state, "pool", None)
            if pool is not None:
                size = pool.get_size()
                POOL_CONNECTIONS.labels("open").set(size)
                POOL_CONNECTIONS.labels("in_use").set(size - pool.get_idle_size())
            await asyncio.sleep(POOL_REFRESH_SECONDS)

    task = asyncio.create_task(refresh())
    try:
        yield
    finally:
        task.cancel()


class _Ages:
    """Gauges computed at the scrape (not stored): the ages of the newest publication and
    the newest backup."""

    def __init__(self, publication: datetime | None, backup: datetime | None, now: datetime):
        self.values = {"publication": publication, "backup": backup}
        self.now = now

    def collect(self):
        for name, at in self.values.items():
            if at is not None:
                yield GaugeMetricFamily(
                    f"{PREFIX}_newest_{name}_age_seconds",
                    f"Seconds since the newest {name} was made",
                    value=(self.now - at).total_seconds(),
                )


async def _newest_backup(conn: asyncpg.Connection) -> datetime | None:
    """The newest backup's time, from the backup service when this release has one."""
    try:
        from api.services.backup import newest_backup_time
    except ImportError:
        return None
    return await newest_backup_time(conn)


def metrics_allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    if "x-forwarded-for" in request.headers or request.client is None:
        return False  # through the proxy (or no peer): only with the token
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    if not metrics_allowed(request, state.settings):
        # no credentials: 401 (as any route); a user's or a wrong token: 403
        raise Problem("forbidden" if "authorization" in request.headers else "auth-required")
    async with state.pool.acquire() as conn:
        publication = await conn.fetchval(NEWEST_PUBLICATION)
        backup = await _newest_backup(conn)
        now = await conn.fetchval("SELECT now()")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Registered(REGISTRY))
    registry.register(_Ages(publication, backup, now))
    # the classic text format (every Prometheus reads it); Litestar adds the charset
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")


class _Registered:
    """The process's own metrics (one worker), beside the scrape's computed ones."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()

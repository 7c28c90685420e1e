"""Publications: what roles without microdata see (shared/spec/summaries.md, version 2).

A project's publication covers the interviews (and the support-centre cases' states) through
the last closed month and falls due `publication_lag_days` after that month's end. It is made
when it falls due or when it is first asked for, whichever is later: the first request that
finds the due publication missing asks the app's `Publisher` for it, which makes it in the
background, on a connection of its own, one publication at a time across every process (an
advisory lock); the request does not wait. Until it is made, requests get the publication
before it (frozen, still valid) or, for a project that has none, `publication-pending`
(problem+json, 503 with Retry-After). The app's timer (`publication_interval_seconds`) is a
second trigger, and `fieldsurvey publish` a third (right after an import; it does not wait
for the data to settle).

A publication is made from everything committed at its cut-off (the snapshot its one
REPEATABLE READ transaction takes) and never changes afterwards; a screening stored later, or
edited, reviewed or reclassified later, counts in the next publication, which names the months
it revises. The automatic triggers make one only from settled data: when nothing it would
cover changed in the `publication_settle_seconds` before the cut-off (an import or a
reclassification still running), it is put off and tried again later; after
`MAX_PUT_OFF_SECONDS` (a day) of being put off it is made from what is committed then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg

from api.background import stop_background_task
from api.problems import Problem
from api.settings import Settings
from db import publications as publications_db
from db import summaries as summaries_db
from db.pool import connect, session_advisory_lock
from db.publications import Publication

log = logging.getLogger("fieldsurvey.publications")
RETRY_AFTER_SECONDS = 60
_BUILD_LOCK = 72_405_513  # advisory lock (one key): one publication being made at a time


def due_month(now: datetime, lag_days: int) -> int:
    """The last month (YYYYMM) whose publication has fallen due at `now`."""
    day = (now - timedelta(days=lag_days)).date()
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return year * 100 + month


async def latest_publication(
    conn: asyncpg.Connection, project_id: int, settings: Settings, now: datetime | None = None
) -> Publication:
    """The project's newest publication through the month due now. When the due one is
    missing, asks the app's publisher for it (made in the background; never waited for) and
    answers with the one before, or with the problem `publication-pending` if there is none."""
    month = due_month(now or datetime.now(UTC), settings.publication_lag_days)
    found = await publications_db.latest_publication(conn, project_id, month)
    if found is None or found.through_month < month:
        publisher = _publishers.get(id(settings))
        if publisher is not None and publisher.settings is settings:
            publisher.ask(project_id)
    if found is None:
        raise Problem("publication-pending", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return found


async def publish_due(
    conn: asyncpg.Connection, project_id: int, settings: Settings, now: datetime | None = None,
    *, settle: bool = False,
) -> Publication:
    """The project's publication due now: the one made before, or a new one from everything
    committed now (minutes at a million screenings), with its large tables computed and kept
    (`precompute_tables`). `settle`: only from settled data (`publication_settle_seconds`),
    else `publications_db.Unsettled`."""
    from api.services.summaries import precompute_tables

    month = due_month(now or datetime.now(UTC), settings.publication_lag_days)
    form_ids = await summaries_db.screening_form_ids(conn, project_id)
    publication = await publications_db.publish(
        conn, project_id, form_ids, month, settle_seconds=settings.publication_settle_seconds if settle else 0)
    await precompute_tables(conn, publication, settings.disclosure_k)  # its large tables, kept whole
    return publication


async def publish_all_due(
    conn: asyncpg.Connection, settings: Settings, now: datetime | None = None,
    project_ids: list[int] | None = None,
) -> list[Publication]:
    """The due publication of every project that has something to publish (screenings of a
    risk screening form, or cases), made where missing (`fieldsurvey publish`: it waits for
    a publication another process is making, then makes its own, one at a time too)."""
    if project_ids is None:
        project_ids = await publications_db.publishable_projects(conn)
    made = []
    async with session_advisory_lock(conn, _BUILD_LOCK):
        for project_id in project_ids:
            began = time.perf_counter()
            publication = await publish_due(conn, project_id, settings, now)
            made.append(publication)
            log.info("project %s: publication %s (%.1f s)", project_id, publication.label,
                     time.perf_counter() - began)
    return made


# A publication put off this long because its data kept changing (an import that never ends,
# a phone that keeps sending screenings of closed months, a case updated every few minutes) is
# made anyway from what is committed: settling may delay a publication, never stop it.
MAX_PUT_OFF_SECONDS = 24 * 3600


class Publisher:
    """The app's publisher: makes a project's due publication when asked (by the first request
    that finds it missing, or by the timer), in the background on a connection of its own,
    one at a time: in this process one after the other, across processes under an advisory
    lock (a publisher that finds another one building leaves it to that one). A publication
    that cannot be made now (the data has not settled, or another process is building) is
    tried again when asked after `RETRY_AFTER_SECONDS`."""

    def __init__(self, dsn: str, settings: Settings):
        self.dsn = dsn
        self.settings = settings
        self.builds: dict[int, asyncio.Task] = {}  # project -> its build (the newest)
        self._not_before: dict[int, float] = {}  # project -> when to try again (monotonic)
        self._put_off_since: dict[int, float] = {}  # project -> first put off (monotonic)
        self.max_put_off_seconds = MAX_PUT_OFF_SECONDS
        self._one_at_a_time = asyncio.Lock()

    def ask(self, project_id: int) -> asyncio.Task | None:
        """Start making the project's due publication unless it is being made, or was put off
        less than `RETRY_AFTER_SECONDS` ago. Returns the build (None: not started now)."""
        running = self.builds.get(project_id)
        if running is not None and not running.done():
            return running
        if time.monotonic() < self._not_before.get(project_id, 0.0):
            return None
        task = self.builds[project_id] = asyncio.create_task(self.build(project_id))
        return task

    async def build(self, project_id: int) -> Publication | None:
        """The project's due publication, made if missing; None when it is not made now."""
        async with self._one_at_a_time:
            made = None
            try:
                conn = await connect(self.dsn)
            except (OSError, asyncpg.PostgresError):
                log.exception("publishing project %s: no connection", project_id)
                self._not_before[project_id] = time.monotonic() + RETRY_AFTER_SECONDS
                return None
            try:  # the lock is the session's: closing the connection releases it
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _BUILD_LOCK):
                    log.info("project %s: another process is making a publication", project_id)
                elif project_id in await publications_db.publishable_projects(conn):
                    began = time.perf_counter()
                    since = self._put_off_since.get(project_id)
                    settle = since is None or time.monotonic() - since < self.max_put_off_seconds
                    made = await publish_due(conn, project_id, self.settings, settle=settle)
                    self._put_off_since.pop(project_id, None)
                    log.info("project %s: publication %s (%.1f s)", project_id, made.label,
                             time.perf_counter() - began)
            except publications_db.Unsettled as exc:
                self._put_off_since.setdefault(project_id, time.monotonic())
                log.info("project %s: publication put off, %s", project_id, exc)
            except Exception:  # whatever it was (a connection left broken too): logged
                log.exception("publishing project %s failed", project_id)
            finally:
                try:
                    await asyncio.wait_for(conn.close(), 10)
                except Exception:  # a broken connection: dropped
                    conn.terminate()
            if made is None:
                self._not_before[project_id] = time.monotonic() + RETRY_AFTER_SECONDS
            return made

    async def close(self) -> None:
        for task in list(self.builds.values()):
            await stop_background_task(task, "publication build")


# the publisher of each running app, by its settings (latest_publication finds it from them)
_publishers: dict[int, Publisher] = {}


@asynccontextmanager
async def publish_in_background(app) -> AsyncIterator[None]:
    """An app lifespan (after the one that opens the pool): the app's `Publisher`, which
    requests ask for a missing due publication, and its timer: at startup and then every
    `publication_interval_seconds` (0: no timer) it asks for every project with something to
    publish."""
    settings: Settings = app.state.settings
    interval = settings.publication_interval_seconds
    publisher = Publisher(app.state.dsn, settings)
    app.state.publisher = publisher
    _publishers[id(settings)] = publisher

    async def loop() -> None:
        while True:
            try:
                conn = await connect(app.state.dsn)
                try:
                    projects = await publications_db.publishable_projects(conn)
                finally:
                    await conn.close()
                for project_id in projects:  # one after the other: one build at a time
                    await publisher.build(project_id)
            except Exception:  # logged; the next round tries again
                log.exception("publishing failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop()) if interval > 0 else None
    try:
        yield
    finally:
        if _publishers.get(id(settings)) is publisher:
            del _publishers[id(settings)]
        if task is not None:
            await stop_background_task(task, "publisher")
        try:
            await publisher.close()
        except Exception:  # shutdown goes on
            log.exception("closing the publisher failed")

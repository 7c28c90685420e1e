"""Publications: what roles without microdata see (shared/spec/summaries.md, version 2).

A project's publication covers the interviews (and the support-centre cases' states) through
the last closed month and falls due `publication_lag_days` after that month's end. It is made
by the publisher, never by a request: the app runs it at startup and every
`publication_interval_seconds` (`publish_in_background`), and `fieldsurvey publish` runs it
from the command line (for a deployment that turns the timer off, or right after an import).
A publication is made from everything stored at that moment and never changes afterwards; a
screening stored later, or edited, reviewed or reclassified later, counts in the next
publication, which names the months it revises.

Reads take the newest publication through the due month: while the due one is being made,
the one before it is still what is published; a project that has none yet answers
`publication-pending` (problem+json, 503 with Retry-After) instead of waiting for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg

from api.problems import Problem
from api.settings import Settings
from db import publications as publications_db
from db import summaries as summaries_db
from db.pool import connect
from db.publications import Publication

log = logging.getLogger("fieldsurvey.publications")
RETRY_AFTER_SECONDS = 60


def due_month(now: datetime, lag_days: int) -> int:
    """The last month (YYYYMM) whose publication has fallen due at `now`."""
    day = (now - timedelta(days=lag_days)).date()
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return year * 100 + month


async def latest_publication(
    conn: asyncpg.Connection, project_id: int, settings: Settings, now: datetime | None = None
) -> Publication:
    """The project's newest publication through the month due now. Never makes one: with none
    yet, the problem `publication-pending`."""
    month = due_month(now or datetime.now(UTC), settings.publication_lag_days)
    found = await publications_db.latest_publication(conn, project_id, month)
    if found is None:
        raise Problem("publication-pending", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return found


async def publish_due(
    conn: asyncpg.Connection, project_id: int, settings: Settings, now: datetime | None = None
) -> Publication:
    """The project's publication due now: the one made before, or a new one from everything
    stored now (the publisher's work; minutes at a million screenings)."""
    month = due_month(now or datetime.now(UTC), settings.publication_lag_days)
    form_ids = await summaries_db.screening_form_ids(conn, project_id)
    return await publications_db.publish(conn, project_id, form_ids, month)


async def publish_all_due(
    conn: asyncpg.Connection, settings: Settings, now: datetime | None = None,
    project_ids: list[int] | None = None,
) -> list[Publication]:
    """The due publication of every project that has something to publish (screenings of a
    risk screening form, or cases), made where missing."""
    if project_ids is None:
        project_ids = await publications_db.publishable_projects(conn)
    made = []
    for project_id in project_ids:
        began = time.perf_counter()
        publication = await publish_due(conn, project_id, settings, now)
        made.append(publication)
        log.info("project %s: publication %s (%.1f s)", project_id, publication.label,
                 time.perf_counter() - began)
    return made


@asynccontextmanager
async def publish_in_background(app) -> AsyncIterator[None]:
    """An app lifespan (after the one that opens the pool): the publisher. At startup and then
    every `publication_interval_seconds` (0: never; `fieldsurvey publish` does it) it makes the
    due publications, on a connection of its own (its statements run for minutes at scale),
    one publisher per project across processes (db/publications.py's advisory lock)."""
    settings: Settings = app.state.settings
    interval = settings.publication_interval_seconds

    async def loop() -> None:
        while True:
            try:
                conn = await connect(app.state.dsn)
                try:
                    for project_id in await publications_db.publishable_projects(conn):
                        try:  # one project's failure does not hold back the others
                            await publish_all_due(conn, settings, project_ids=[project_id])
                        except (asyncpg.PostgresError, ValueError, LookupError):
                            log.exception("publishing project %s failed", project_id)
                finally:
                    await conn.close()
            except Exception:  # logged; the next round tries again
                log.exception("publishing failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop()) if interval > 0 else None
    app.state.publisher = task
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""The daily housekeeping of issue 25: purge the trash (api/services/trash.py) and run the
forms' retention periods (api/services/retention.py). `fieldsurvey purge` runs it once; the
server every FIELDSURVEY_TRASH_PURGE_INTERVAL_SECONDS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from api.background import stop_background_task
from api.services.erasure import ErasureReport
from api.services.retention import run_retention
from api.services.trash import PurgeReport, purge_trash
from db.pool import pool_connection

log = logging.getLogger("fieldsurvey")
FIRST_RUN_SECONDS = 300


@dataclass(frozen=True)
class Housekeeping:
    purged: PurgeReport
    retention: ErasureReport


async def housekeeping(conn: asyncpg.Connection, store, settings) -> Housekeeping:
    purged = await purge_trash(conn, store, days=settings.trash_days)
    return Housekeeping(purged, await run_retention(conn, store))


@asynccontextmanager
async def purge_in_background(app) -> AsyncIterator[None]:
    """An app lifespan: `housekeeping` every `trash_purge_interval_seconds` (0: never)."""
    settings = app.state.settings
    interval = settings.trash_purge_interval_seconds

    async def loop() -> None:
        wait = min(interval, FIRST_RUN_SECONDS)  # a server restarted daily still runs it
        while True:
            await asyncio.sleep(wait)
            wait = interval
            try:
                async with pool_connection(app.state.pool) as conn:
                    done = await housekeeping(conn, app.state.attachment_store, settings)
                p, r = done.purged, done.retention
                if p.submissions or p.entities or r.submissions or r.fields:
                    log.info("trash purged: %s submissions, %s entities, %s files; retention "
                             "erased %s submissions, %s cases, sensitive fields of %s",
                             p.submissions, p.entities, p.files, r.submissions, r.entities,
                             r.fields)
            except Exception:  # whatever it was: logged, and the next round tries again
                log.exception("purging the trash failed")

    task = asyncio.create_task(loop()) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            await stop_background_task(task, "trash purger")

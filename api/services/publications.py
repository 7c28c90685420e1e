"""Publications: what roles without microdata see (shared/spec/summaries.md, version 2).

A project's publication covers the interviews through the last closed month and falls due
`publication_lag_days` after that month's end; it is made when it is first asked for after
that (from everything stored at that moment) and never changes afterwards. A screening stored
later, or edited, reviewed or reclassified later, counts in the next publication, which names
the months it revises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from api.settings import Settings
from db import publications as publications_db
from db import summaries as summaries_db
from db.publications import Publication


def due_month(now: datetime, lag_days: int) -> int:
    """The last month (YYYYMM) whose publication has fallen due at `now`."""
    day = (now - timedelta(days=lag_days)).date()
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return year * 100 + month


async def current_publication(
    conn: asyncpg.Connection, project_id: int, settings: Settings, now: datetime | None = None
) -> Publication:
    """The project's publication due now (made now if it was not asked for before)."""
    month = due_month(now or datetime.now(UTC), settings.publication_lag_days)
    found = await publications_db.get_publication(conn, project_id, month)
    if found is not None:
        return found
    form_ids = await summaries_db.screening_form_ids(conn, project_id)
    return await publications_db.publish(conn, project_id, form_ids, month)

"""Re-apply the current rubric to every stored risk screening: in batches, each batch its own
transaction (safe to interrupt: what was done stays done), idempotent (unchanged rows are not
rewritten)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from db import audits
from db import submissions as submissions_db
from forms.screening import RISK_SCREENING_FORM_ID, SCREENING_COLUMNS, screening_row


async def reclassify_screenings(
    conn: asyncpg.Connection,
    *,
    project_id: int | None = None,
    batch_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Returns the number of submissions visited."""
    last_id = 0
    visited = 0
    while True:
        batch = await submissions_db.screening_batch(
            conn, RISK_SCREENING_FORM_ID, project_id, last_id, batch_size
        )
        if not batch:
            break
        rows = []
        for record in batch:
            values = screening_row(record["answers"])
            rows.append(
                (
                    record["submission_id"],
                    record["version_id"],
                    record["form_id"],
                    *[values[c] for c in SCREENING_COLUMNS],
                )
            )
        async with conn.transaction():
            await submissions_db.lock_submissions(conn, [r[0] for r in rows])
            await submissions_db.upsert_screenings(conn, rows)
        last_id = batch[-1]["submission_id"]
        visited += len(batch)
        if on_progress is not None:
            on_progress(len(batch))
    async with conn.transaction():
        await audits.log_audit(
            conn, None, "screening.reclassify", None, {"projectId": project_id, "visited": visited}
        )
    return visited

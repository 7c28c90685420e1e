"""The coordinator's reads (the dashboard's coordinator view): submissions per form and day,
the screenings waiting for review, and the project's app users. The page renders them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from api.auth import Actor, authorize
from api.scopes import row_scope
from db import audits
from db import summaries as summaries_db
from db import users as users_db


@dataclass(frozen=True)
class FormDays:
    xml_form_id: str
    title: str
    total: int
    per_day: list[int]  # submissions of each of the days asked for, in their order


@dataclass(frozen=True)
class CoordinatorView:
    forms: list[FormDays]
    review: list[asyncpg.Record]  # screenings needing review
    app_users: list[asyncpg.Record]  # active app users (for those who manage them), else none


async def coordinator_view(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, days: list[date],
    zone: ZoneInfo,
) -> CoordinatorView:
    """Days are the user's days (`zone`); the read is in the audit log."""
    actor = authorize(actor, "submission.read", project_id)
    since = datetime.combine(min(days), datetime.min.time(), tzinfo=zone)
    scope = row_scope(actor, project_id)  # every count and row: only the actor's
    per_day = await summaries_db.submissions_per_day(conn, project_id, since, zone.key,
                                                     scope=scope)
    forms = [
        FormDays(
            row["xml_form_id"], row["title"] or row["xml_form_id"], row["total"],
            [per_day.get((row["xml_form_id"], day), 0) for day in days],
        )
        for row in await summaries_db.project_forms(conn, project_id, scope=scope)
    ]
    review = await summaries_db.screenings_needing_review(conn, project_id, scope=scope)
    await audits.log_audit(
        conn, actor.id, "submission.list", f"project/{project_id}/dashboard",
        {"view": "coordinator", "rows": len(review)},
    )
    app_users = []
    if actor.can("app_user.manage", project_id):
        app_users = [row for row in await users_db.list_field_keys(conn, project_id)
                     if row["revoked_at"] is None]
    return CoordinatorView(forms, review, app_users)

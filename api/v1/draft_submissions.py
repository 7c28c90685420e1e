"""Draft test submissions, as ODK Central has them: POST/GET
/v1/projects/{pid}/forms/{xmlFormId}/draft/submissions. They are kept apart from the data
(table draft_submissions): no export, summary, OData feed or submissions list shows them."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Request, get, post
from litestar.datastructures import State

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.services.forms import form_or_404
from api.services.ingest import ingest_submission
from api.v1.submissions import _xml_body_type
from db import draft_submissions as drafts_db

PATH = "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/submissions"


class DraftSubmissionOut(msgspec.Struct, rename="camel"):
    instance_id: str
    submitter_id: int | None
    created_at: datetime
    draft: bool = True
    risk_level: str | None = None  # a risk screening's classification, as the rubric gives it


async def _draft_def(conn: asyncpg.Connection, project_id: int, xml_form_id: str) -> int:
    form = await form_or_404(conn, project_id, xml_form_id)
    if form["draft_def_id"] is None:
        raise Problem("draft-missing", N_("The form has no draft."))
    return form["draft_def_id"]


def draft_out(row) -> DraftSubmissionOut:
    screening = row["screening"] or {}
    return DraftSubmissionOut(
        instance_id=row["instance_id"], submitter_id=row["submitter_id"],
        created_at=row["created_at"], risk_level=screening.get("risk_level"),
    )


@post(PATH, status_code=200)
async def create_draft_submission(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, state: State,
) -> dict:
    authorize(actor, "form.update", project_id)
    await _draft_def(conn, project_id, xml_form_id)
    _xml_body_type(request)
    result = await ingest_submission(
        conn, state.attachment_store, actor, project_id, await request.body(), [],
        user_agent=request.headers.get("user-agent"), expected_form_id=xml_form_id, draft=True,
    )
    return {"instanceId": result.instance_id, "draft": True}


@get(PATH)
async def list_draft_submissions(
    project_id: int, xml_form_id: str, conn: asyncpg.Connection, actor: Actor | None,
) -> list[DraftSubmissionOut]:
    authorize(actor, "form.update", project_id)
    def_id = await _draft_def(conn, project_id, xml_form_id)
    return [draft_out(r) for r in await drafts_db.list_draft_submissions(conn, def_id)]

"""The rubric's stored result for one risk_screening submission."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import get

from api.auth import Actor, authorize
from api.problems import Problem
from api.scopes import row_scope
from api.services.forms import form_or_404
from db import audits
from db import submissions as submissions_db
from forms.screening import RISK_SCREENING_FORM_ID


class ClassificationOut(msgspec.Struct, rename="camel"):
    instance_id: str
    consent_refused: bool
    rubric_version: str | None
    vulnerability_score: int | None
    vulnerability_level: str | None
    exploitation_status: str | None
    urgent: bool | None
    risk_level: str | None
    risk_groups: list[str]
    control_forms: list[str]
    exploitation_types: list[str]
    needs_review: bool | None


@get(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions/{instance_id:str}"
    "/classification"
)
async def get_classification(
    project_id: int, xml_form_id: str, instance_id: str, conn: asyncpg.Connection,
    actor: Actor | None,
) -> ClassificationOut:
    """Only risk_screening has one. (The form id is a path parameter, not a literal segment:
    a literal would shadow every other form's routes in Litestar's router.)"""
    actor = authorize(actor, "submission.read", project_id)
    if xml_form_id != RISK_SCREENING_FORM_ID:
        raise Problem("not-found", "Only risk_screening submissions are classified.")
    form = await form_or_404(conn, project_id, RISK_SCREENING_FORM_ID)
    row = await submissions_db.get_screening(conn, form["id"], instance_id,
                                             scope=row_scope(actor, project_id))
    if row is None:
        raise Problem("submission-not-found")
    async with conn.transaction():
        await audits.log_audit(
            conn, actor.id, "submission.classification.read",
            f"submission/{project_id}/{RISK_SCREENING_FORM_ID}/{instance_id}",
        )
    return ClassificationOut(
        instance_id=instance_id,
        consent_refused=row["consent_refused"],
        rubric_version=row["rubric_version"],
        vulnerability_score=row["vulnerability_score"],
        vulnerability_level=row["vulnerability_level"],
        exploitation_status=row["exploitation_status"],
        urgent=row["urgent"],
        risk_level=row["risk_level"],
        risk_groups=list(row["risk_groups"]),
        control_forms=list(row["control_forms"]),
        exploitation_types=list(row["exploitation_types"]),
        needs_review=row["needs_review"],
    )

"""SQL of draft test submissions (table draft_submissions): what is submitted from a form's
preview. Nothing that reads data (exports, summaries, OData, the submissions API) reads here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

INSERT_DRAFT_SUBMISSION = """
INSERT INTO draft_submissions
    (form_id, form_def_id, instance_id, xml, answers, screening, attachments, submitter_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT ON CONSTRAINT draft_submissions_def_instance_unique DO NOTHING
RETURNING id
"""
SELECT_DRAFT_SUBMISSIONS = """
SELECT d.id, d.instance_id, d.submitter_id, d.created_at, d.screening, d.attachments,
       a.display_name AS submitter_name
FROM draft_submissions d LEFT JOIN actors a ON a.id = d.submitter_id
WHERE d.form_def_id = $1
ORDER BY d.created_at DESC, d.id DESC
LIMIT $2 OFFSET $3
"""


async def insert_draft_submission(
    conn: asyncpg.Connection,
    *,
    form_id: int,
    form_def_id: int,
    instance_id: str,
    xml: bytes,
    answers: Mapping[str, Any],
    screening: Mapping[str, Any] | None,
    attachments: Sequence[Mapping[str, Any]],
    submitter_id: int,
) -> int | None:
    """The new row's id, or None when this draft already has a submission with that
    instanceID (a resend)."""
    return await conn.fetchval(
        INSERT_DRAFT_SUBMISSION, form_id, form_def_id, instance_id, xml, answers,
        screening, list(attachments), submitter_id,
    )


async def list_draft_submissions(
    conn: asyncpg.Connection, form_def_id: int, limit: int = 100, offset: int = 0
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_DRAFT_SUBMISSIONS, form_def_id, limit, offset)


DELETE_FORM_DRAFT_SUBMISSIONS = """
DELETE FROM draft_submissions WHERE form_id = $1
RETURNING (SELECT coalesce(array_agg(a->>'blobKey'), '{}')
           FROM jsonb_array_elements(attachments) a) AS blob_keys
"""


async def delete_form_draft_submissions(conn: asyncpg.Connection, form_id: int) -> list[str]:
    """Delete the form's draft test submissions (every draft's); the blob keys of their files."""
    rows = await conn.fetch(DELETE_FORM_DRAFT_SUBMISSIONS, form_id)
    return [key for row in rows for key in row["blob_keys"] if key]

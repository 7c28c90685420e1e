"""The server audit log: GET /v1/audits (administrators), as ODK Central's.

Query: `action` (an action, or a group such as `submission` for every `submission.*`),
`start` (inclusive) and `end` as ISO 8601 dates or timestamps (no offset means UTC; Central's
`2000-01-01z` is accepted; an end timestamp is not included, an end date is included whole, as
everywhere: forms/vocabulary.py), `limit`, `offset`. Newest first. With
`X-Extended-Metadata: true` each entry carries its `actor`.

The log is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE on `audits`.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from litestar import Request, get

from api.auth import Actor, require_admin
from api.http import extended_metadata
from api.problems import Problem
from api.v1.query_params import non_negative_int
from api.v1.submissions import AuditOut, audit_out
from db import audits
from forms.messages import OptionError
from forms.vocabulary import OUT_OF_RANGE, parse_moment

MAX_LIMIT = 10_000


def parse_time(name: str, value: str | None) -> datetime | None:
    """`start` or `end` as Central takes them (a trailing Z, a '+' that arrived as a space);
    an end date includes that whole day (forms/vocabulary.py)."""
    if value is None or not value.strip():
        return None
    text = value.strip().replace(" ", "+")  # a '+' offset that arrived unencoded
    if text[-1] in "zZ":
        text = text[:-1] if len(text) == 11 else text[:-1] + "+00:00"
    try:
        return parse_moment(text, name, end=name == "end")
    except OptionError as exc:
        if exc.template == OUT_OF_RANGE:
            raise Problem("request-invalid", exc.template, params=exc.params) from exc
        raise Problem("request-invalid", f"{name} must be an ISO 8601 date or timestamp.") from exc




@get("/v1/audits")
async def list_audits(
    request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> list[AuditOut]:
    require_admin(actor)
    query = request.query_params
    limit = non_negative_int(request, "limit")
    rows = await audits.list_audit_entries(
        conn,
        action=(query.get("action") or "").strip() or None,
        start=parse_time("start", query.get("start")),
        end=parse_time("end", query.get("end")),
        limit=min(limit, MAX_LIMIT) if limit is not None else MAX_LIMIT,
        offset=non_negative_int(request, "offset") or 0,
    )
    extended = extended_metadata(request)
    return [audit_out(r, extended=extended) for r in rows]

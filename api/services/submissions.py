"""Submissions as people work with them, shared by the REST API and the pages: the table
(newest first, filtered, paged by keyset), one submission with its answers, history and
feed, review (with a note) and comments. Permissions come from `api.auth`; SQL lives in
`db.submissions`. Every read of microdata writes an audit row.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from api.auth import Actor, authorize
from api.i18n import N_
from api.problems import Problem
from api.scopes import row_scope
from api.services import submission_entities
from api.services.forms import form_or_404
from api.services.projects import require_writable_project
from api.services.sensitive import form_masked_paths, refuse_withheld_file, withheld_files
from api.storage import AttachmentStore, blob_key
from db import audits
from db import blobs as blobs_db
from db import submissions as submissions_db
from db.limits import MAX_INTEGER
from db.scopes import RowScope
from db.submissions import AttachmentIn, ListFilter
from forms.messages import OptionError
from forms.numbers import whole_number
from forms.sensitive import mask_answers
from forms.vocabulary import REVIEW_DECISIONS, REVIEW_STATES, RISK_LEVELS, parse_moment_range

MAX_COMMENT_LENGTH = 10_000
PAGE_SIZES = (25, 50, 100, 250)
DEFAULT_PAGE_SIZE = 50
COUNT_CAP = 1_000  # the table counts matches up to this (a bound on its cost)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def acted_on(project_id: int, xml_form_id: str, instance_id: str) -> str:
    """What the audit log names a submission by."""
    return f"submission/{project_id}/{xml_form_id}/{instance_id}"


async def submission_row(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
):
    """The submission, when it exists and is in `scope` (api/scopes.py `row_scope`); one out of
    scope is not found, exactly as one that does not exist."""
    row = await submissions_db.get_submission_for_api(conn, form_id, instance_id, scope=scope)
    if row is None:
        raise Problem("submission-not-found")
    return row


# --- keyset cursors --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order: a row's (created_at, id)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // timedelta(microseconds=1)
        return base64.urlsafe_b64encode(f"{micros}.{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            micros, _, ident = raw.partition(".")
            number = whole_number(ident)
            if number is None:
                raise ValueError(ident)
            return cls(EPOCH + timedelta(microseconds=int(micros)), number)
        except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError) as exc:
            raise Problem("request-invalid", N_("The page cursor is not valid.")) from exc

    @classmethod
    def of(cls, row) -> Cursor:
        return cls(row["created_at"], row["id"])

    def key(self) -> tuple[datetime, int]:
        return (self.created_at, self.id)


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableQuery:
    """A submissions table request: filters, a keyset position and a page size."""

    filter: ListFilter = field(default_factory=ListFilter)
    after: Cursor | None = None
    before: Cursor | None = None
    limit: int = DEFAULT_PAGE_SIZE
    # what the filters were given as (for links that keep them)
    params: dict[str, str | list[str]] = field(default_factory=dict)


def _one(params: Mapping[str, object], name: str) -> str:
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return (value or "").strip() if isinstance(value, str) else ""


def _many(params: Mapping[str, object], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def parse_table_query(
    params: Mapping[str, object], zone: ZoneInfo | str = "Asia/Dushanbe"
) -> TableQuery:
    """Read a submissions table request from query parameters:
    from / to (days, inclusive, in `zone`), review (repeatable: received, hasIssues, edited,
    approved, rejected), submitter (actor id), risk (repeatable: low, medium, high), urgent
    (yes / no), after / before (cursors), limit. Raises request-invalid on bad values."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    try:  # days in `zone`, both included (forms/vocabulary.py)
        since, until = parse_moment_range(_one(params, "from"), _one(params, "to"),
                                          ("from", "to"), zone=tz, dates_only=True)
    except OptionError as exc:
        raise Problem("request-invalid", exc.template, params=exc.params) from exc
    reviews = _many(params, "review")
    for state in reviews:
        if state not in REVIEW_STATES:
            raise Problem(
                "request-invalid", N_("review must be one of %(states)s."),
                params={"states": ", ".join(REVIEW_STATES)},
            )
    risks = _many(params, "risk")
    for level in risks:
        if level not in RISK_LEVELS:
            raise Problem("request-invalid", N_("risk must be one of %(levels)s."),
                      params={"levels": ", ".join(RISK_LEVELS)})
    urgent_text = _one(params, "urgent")
    if urgent_text not in ("", "yes", "no"):
        raise Problem("request-invalid", N_("urgent must be yes or no."))
    submitter_text = _one(params, "submitter")
    submitter_id = whole_number(submitter_text, MAX_INTEGER)
    if submitter_text and submitter_id is None:
        raise Problem("request-invalid", N_("submitter must be an actor id."))
    limit_text = _one(params, "limit")
    limit = whole_number(limit_text) if limit_text else DEFAULT_PAGE_SIZE
    if limit not in PAGE_SIZES:
        raise Problem(
            "request-invalid", N_("limit must be one of %(sizes)s."),
            params={"sizes": ", ".join(map(str, PAGE_SIZES))},
        )
    after, before = _one(params, "after"), _one(params, "before")
    filt = ListFilter(
        since=since,
        until=until,
        review_states=tuple(dict.fromkeys(reviews)),
        submitter_id=submitter_id,
        risk_levels=tuple(dict.fromkeys(risks)),
        urgent=None if not urgent_text else urgent_text == "yes",
    )
    kept: dict[str, str | list[str]] = {}
    for name in ("from", "to", "submitter", "urgent", "limit"):
        if _one(params, name):
            kept[name] = _one(params, name)
    for name, values in (("review", reviews), ("risk", risks)):
        if values:
            kept[name] = list(dict.fromkeys(values))
    return TableQuery(
        filter=filt,
        after=Cursor.decode(after) if after else None,
        before=Cursor.decode(before) if before and not after else None,
        limit=limit,
        params=kept,
    )


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePage:
    form: asyncpg.Record
    rows: list[asyncpg.Record]
    older: Cursor | None  # set when there are older rows after this page
    newer: Cursor | None  # set when there are newer rows before this page
    matched: int  # how many match the filters, counted up to COUNT_CAP + 1
    capped: bool  # matched is a lower bound


async def submissions_table(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    query: TableQuery,
) -> TablePage:
    """One page of a form's submissions, newest first."""
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    # one row beyond the page tells whether there is a next page in that direction
    rows = await submissions_db.list_submission_page(
        conn, form["id"], query.filter,
        after=query.after.key() if query.after else None,
        before=query.before.key() if query.before else None,
        limit=query.limit + 1, scope=row_scope(actor, project_id),
    )
    more = len(rows) > query.limit
    if query.before is not None:
        rows = rows[1:] if more else rows
        older = Cursor.of(rows[-1]) if rows else query.before
        newer = Cursor.of(rows[0]) if more and rows else None
        if not rows:  # nothing newer: show the first page
            return await submissions_table(
                conn, actor, project_id, xml_form_id,
                TableQuery(query.filter, limit=query.limit, params=query.params),
            )
    else:
        rows = rows[: query.limit]
        older = Cursor.of(rows[-1]) if more else None
        newer = Cursor.of(rows[0]) if query.after is not None and rows else None
    matched = await submissions_db.count_submission_page(
        conn, form["id"], query.filter, cap=COUNT_CAP, scope=row_scope(actor, project_id)
    )
    await audits.log_audit(
        conn, actor.id, "submission.list", f"form/{project_id}/{xml_form_id}",
        {"count": len(rows), "limit": query.limit, "view": "table",
         **({"filters": query.params} if query.params else {})},
    )
    return TablePage(form, rows, older, newer, min(matched, COUNT_CAP), matched > COUNT_CAP)


async def list_for_api(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    *, limit: int | None, offset: int,
) -> list[asyncpg.Record]:
    """Central's GET .../submissions: every submission newest first, by limit/offset."""
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    rows = await submissions_db.list_submission_page(
        conn, form["id"], ListFilter(), limit=limit, offset=offset, api_columns=True,
        scope=row_scope(actor, project_id),
    )
    await audits.log_audit(
        conn, actor.id, "submission.list", f"form/{project_id}/{xml_form_id}",
        {"count": len(rows), "limit": limit, "offset": offset},
    )
    return rows


async def form_submitters(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, form_id: int
) -> list[asyncpg.Record]:
    """Who has submitted to a form (for the table's submitter filter)."""
    authorize(actor, "submission.read", project_id)
    return await submissions_db.form_submitters(conn, form_id, scope=row_scope(actor, project_id))


# --- review and comments ---------------------------------------------------------------------


def clean_note(text: str | None, *, required: bool) -> str | None:
    body = (text or "").strip()
    if not body:
        if required:
            raise Problem("request-invalid", N_("A comment needs a body."))
        return None
    if len(body) > MAX_COMMENT_LENGTH:
        raise Problem("request-invalid", N_("A comment has at most %(n)s characters."),
                      params={"n": MAX_COMMENT_LENGTH})
    return body


async def review(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str, state: str, notes: str | None = None,
):
    """Set a submission's review state; a note goes into the audit log beside it (as ODK
    Central's X-Action-Notes does) and shows in the submission's feed. Returns the row."""
    actor = authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    if state not in REVIEW_DECISIONS:
        raise Problem(
            "request-invalid",
            N_("reviewState must be one of %(states)s (edited is set by edits)."),
            params={"states": ", ".join(REVIEW_DECISIONS)},
        )
    notes = clean_note(notes, required=False)
    form = await form_or_404(conn, project_id, xml_form_id)
    async with conn.transaction():
        current = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
        await submissions_db.set_review_state(conn, current["id"], state)
        if state == "approved" and current["review_state"] != "approved":
            # entity lists that require approval create their entities now
            await submission_entities.submission_approved(conn, current["id"])
        details = {"reviewState": state, "previousReviewState": current["review_state"]}
        if notes:
            details["notes"] = notes
        await audits.log_audit(
            conn, actor.id, "submission.update", acted_on(project_id, xml_form_id, instance_id),
            details,
        )
    return await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))


async def add_comment(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str, body: str,
):
    actor = authorize(actor, "submission.update", project_id)
    await require_writable_project(conn, project_id)
    body = clean_note(body, required=True)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
    async with conn.transaction():
        comment = await submissions_db.insert_comment(conn, row["id"], actor.id, body)
        await audits.log_audit(
            conn, actor.id, "submission.comment.create",
            acted_on(project_id, xml_form_id, instance_id),
        )
    return comment


async def list_comments(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str,
) -> list[asyncpg.Record]:
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
    comments = await submissions_db.list_comments(conn, row["id"])
    await audits.log_audit(
        conn, actor.id, "submission.comment.list", acted_on(project_id, xml_form_id, instance_id)
    )
    return comments


# --- one submission --------------------------------------------------------------------------

FEED_ACTIONS = {
    "submission.create", "submission.update", "submission.update.version",
    "submission.attachment.update",
}


@dataclass(frozen=True)
class SubmissionDetail:
    form: asyncpg.Record
    row: asyncpg.Record
    versions: list[asyncpg.Record]  # newest first, with answers
    screening: asyncpg.Record | None
    feed: list[dict]  # comments and review/edit events, newest first


async def submission_detail(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str,
) -> SubmissionDetail:
    """Everything a submission's page shows; one audit row for the read."""
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
    versions = await submissions_db.list_version_answers(conn, row["id"])
    masked = await form_masked_paths(conn, actor, project_id, form["id"])
    if masked:
        versions = [{**v, "answers": mask_answers(v["answers"], masked)} for v in versions]
    screening = await submissions_db.get_screening(conn, form["id"], instance_id,
                                                   scope=row_scope(actor, project_id))
    comments = await submissions_db.list_comments(conn, row["id"])
    events = await audits.list_audits_of(conn, acted_on(project_id, xml_form_id, instance_id))
    feed = [
        {"kind": "comment", "at": c["created_at"], "actor": c["actor_name"], "body": c["body"]}
        for c in comments
    ] + [
        {"kind": e["action"], "at": e["logged_at"], "actor": e["actor_name"],
         "details": e["details"] or {}}
        for e in events if e["action"] in FEED_ACTIONS
    ]
    feed.sort(key=lambda item: item["at"], reverse=True)
    await audits.log_audit(
        conn, actor.id, "submission.read", acted_on(project_id, xml_form_id, instance_id),
        {"view": "page"},
    )
    return SubmissionDetail(form, row, versions, screening, feed)


async def next_needing_review(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, form_id: int,
    submission_id: int,
) -> str | None:
    """The instance id of the submission to review after this one (urgent first), or None."""
    authorize(actor, "submission.read", project_id)
    return await submissions_db.next_needing_review(conn, form_id, submission_id,
                                                    scope=row_scope(actor, project_id))


async def attachment_content(
    conn: asyncpg.Connection, store, actor: Actor | None, project_id: int, xml_form_id: str,
    instance_id: str, name: str, version_instance_id: str | None = None,
) -> tuple[bytes, str]:
    """A file of a submission's current version (or of a named version): (bytes, type)."""
    actor = authorize(actor, "submission.read", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
    version_id = row["version_id"]
    if version_instance_id and version_instance_id != row["current_instance_id"]:
        version = await submissions_db.get_version(conn, row["id"], version_instance_id)
        if version is None:
            raise Problem("submission-not-found", N_("The submission has no such version."))
        version_id = version["id"]
    # a masked question's file is refused before anything tells whether it was received
    if await form_masked_paths(conn, actor, project_id, form["id"]):
        answers = await submissions_db.get_version_answers(conn, version_id)
        refuse_withheld_file(
            await withheld_files(conn, actor, project_id, form["id"], answers), name
        )
    item = await submissions_db.get_attachment(conn, version_id, name)
    if item is None or item["blob_key"] is None:
        raise Problem("attachment-not-found")
    try:
        content = await store.get(item["blob_key"])
    except FileNotFoundError as exc:
        raise Problem("attachment-not-found", "The file is missing from the store.") from exc
    await audits.log_audit(
        conn, actor.id, "submission.attachment.read",
        acted_on(project_id, xml_form_id, instance_id), {"name": name},
    )
    return content, item["content_type"] or "application/octet-stream"


async def upload_attachment(
    conn: asyncpg.Connection, store: AttachmentStore, actor: Actor | None, project_id: int,
    xml_form_id: str, instance_id: str, name: str, content: bytes, content_type: str | None,
) -> None:
    """A file the submission's current version names, sent after it (Central's POST
    .../attachments/{name}): stored once referenced, before the commit, with its audit row."""
    actor = authorize(actor, "submission.update", project_id)
    form = await form_or_404(conn, project_id, xml_form_id)
    row = await submission_row(conn, form["id"], instance_id,
                               scope=row_scope(actor, project_id))
    if await submissions_db.get_attachment(conn, row["version_id"], name) is None:
        raise Problem(
            "attachment-not-found",
            f"The submission does not name a file {name!r}; it expects: "
            + (", ".join(a["name"] for a in row["attachments"]) or "no files") + ".",
        )
    key = blob_key(content)
    content_type = content_type or "application/octet-stream"
    async with conn.transaction():
        present = await submissions_db.attach_file(
            conn, row["version_id"], AttachmentIn(name, key, content_type, len(content))
        )
        if present is None:
            raise Problem("attachment-not-found")
        await blobs_db.hold_for_writing(conn)  # the lock a sweep of unreferenced files takes
        await store.put(content, conn)  # stored once referenced, before commit
        await audits.log_audit(
            conn, actor.id, "submission.attachment.update",
            acted_on(project_id, xml_form_id, instance_id),
            {"name": name, "blob": key, "size": len(content)},
        )

"""Submissions over REST, shaped after ODK Central's API (what pyodk and ruODK call):

GET   /v1/projects/{pid}/forms/{xmlFormId}/submissions               list (newest first)
POST  /v1/projects/{pid}/forms/{xmlFormId}/submissions               create from raw XML, or
                                                                     multipart (XML + files)
GET   .../submissions/{instanceId}                                   one (also {instanceId}.xml)
PUT   .../submissions/{instanceId}                                   edit (XML with deprecatedID)
PATCH .../submissions/{instanceId}                                   review: {"reviewState": ...}
GET   .../submissions/{instanceId}/attachments                       [{name, exists}]
GET   .../submissions/{instanceId}/attachments/{name}                the file
POST  .../submissions/{instanceId}/attachments/{name}                upload the file (raw body)
GET   .../submissions/{instanceId}/comments, POST {"body": ...}
GET   .../submissions/{instanceId}/versions, .../versions/{instanceId}[.xml]
GET   .../submissions/{instanceId}/audits                            the submission's audit log
DELETE .../submissions/{instanceId}                                  to the trash (Central)
POST  .../submissions/{instanceId}/restore                           back from the trash
GET   .../submissions?deleted=true                                   the form's trash

Reads need `submission.read` (researchers, managers, admins); writes need `submission.update`
(managers, admins). Every successful read of submission data writes an audit row. Creation and
edits go through `api.services.ingest.ingest_submission`, the one path a submission takes.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, patch, post, put
from litestar.datastructures import State

from api.auth import Actor, authorize
from api.http import extended_metadata, multipart_submission, stored_file_response
from api.problems import Problem
from api.scopes import row_scope
from api.services import submissions as submission_service
from api.services import trash as trash_service
from api.services.forms import form_or_404
from api.services.ingest import IngestResult, ingest_submission, parse_or_problem
from api.services.sensitive import form_masked_paths, withheld_files
from api.v1.query_params import non_negative_int
from api.v1.schemas import CommentText
from db import audits
from db import submissions as submissions_db
from forms.sensitive import mask_submission_xml

BASE = "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/submissions"
ONE = BASE + "/{instance_id:str}"
XML_TYPES = ("application/xml", "text/xml")


class ActorOut(msgspec.Struct, rename="camel"):
    id: int
    type: str
    display_name: str | None
    created_at: datetime | None


class AttachmentOut(msgspec.Struct, rename="camel"):
    name: str
    exists: bool


class SubmissionVersionOut(msgspec.Struct, rename="camel"):
    instance_id: str
    instance_name: str | None
    submitter_id: int | None
    device_id: str | None
    user_agent: str | None
    created_at: datetime
    current: bool
    deprecated_id: str | None = None
    form_version: str | None = None
    submitter: ActorOut | msgspec.UnsetType = msgspec.UNSET


class SubmissionOut(msgspec.Struct, rename="camel"):
    instance_id: str
    submitter_id: int | None
    device_id: str | None
    user_agent: str | None
    review_state: str | None
    created_at: datetime
    updated_at: datetime | None
    instance_name: str | None
    current_version: SubmissionVersionOut
    deleted_at: datetime | None = None
    attachments: list[AttachmentOut] | msgspec.UnsetType = msgspec.UNSET
    submitter: ActorOut | msgspec.UnsetType = msgspec.UNSET


class ReviewPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    review_state: str


class CommentCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    body: CommentText


class CommentOut(msgspec.Struct, rename="camel"):
    body: str
    actor_id: int | None
    created_at: datetime
    actor: ActorOut | msgspec.UnsetType = msgspec.UNSET


class AuditOut(msgspec.Struct, rename="camel"):
    actor_id: int | None
    action: str
    actee_id: str | None
    details: dict | None
    logged_at: datetime
    actor: ActorOut | msgspec.UnsetType = msgspec.UNSET


def _actor(row, prefix: str) -> ActorOut | msgspec.UnsetType:
    actor_id = row[f"{prefix}_id"]
    if actor_id is None:
        return msgspec.UNSET
    return ActorOut(
        id=actor_id,
        type=row[f"{prefix}_type"],
        display_name=row[f"{prefix}_name"],
        created_at=row[f"{prefix}_created_at"],
    )


def submission_out(row, *, extended: bool = False, attachments: bool = True) -> SubmissionOut:
    return SubmissionOut(
        instance_id=row["instance_id"],
        submitter_id=row["submitter_id"],
        device_id=row["device_id"],
        user_agent=row["user_agent"],
        review_state=row["review_state"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        instance_name=row["instance_name"],
        current_version=SubmissionVersionOut(
            instance_id=row["current_instance_id"],
            instance_name=row["instance_name"],
            submitter_id=row["version_submitter_id"],
            device_id=row["version_device_id"],
            user_agent=row["version_user_agent"],
            created_at=row["version_created_at"],
            current=True,
            deprecated_id=row["version_deprecated_id"],
            form_version=row["version_form_version"],
        ),
        # Central has no such member; ours lists the expected files, and is left out when the
        # submission names none (pyodk's e2e suite reads that as None, as from Central)
        attachments=[AttachmentOut(a["name"], a["exists"]) for a in row["attachments"]]
        if attachments and row["attachments"]
        else msgspec.UNSET,
        submitter=_actor(row, "submitter") if extended else msgspec.UNSET,
        deleted_at=row.get("deleted_at"),
    )


def version_out(row, *, extended: bool = False) -> SubmissionVersionOut:
    return SubmissionVersionOut(
        instance_id=row["instance_id"],
        instance_name=row["instance_name"],
        submitter_id=row["submitter_id"],
        device_id=row["device_id"],
        user_agent=row["user_agent"],
        created_at=row["created_at"],
        current=row["current"],
        deprecated_id=row["deprecated_id"],
        form_version=row["form_version"],
        submitter=_actor(row, "submitter") if extended else msgspec.UNSET,
    )


acted_on = submission_service.acted_on


async def _form_id(conn: asyncpg.Connection, project_id: int, xml_form_id: str) -> int:
    return (await form_or_404(conn, project_id, xml_form_id))["id"]


_submission = submission_service.submission_row


async def _ingest(request: Request, conn, state: State, actor: Actor, project_id: int,
                  xml_form_id: str, xml: bytes, files: list) -> IngestResult:
    """The one store path (api.services.ingest), for a submission posted to this form's URL."""
    return await ingest_submission(
        conn,
        state.attachment_store,
        actor,
        project_id,
        xml,
        files,
        device_id=request.query_params.get("deviceID"),
        user_agent=request.headers.get("user-agent"),
        expected_form_id=xml_form_id,
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _xml_body_type(request: Request) -> None:
    if _media_type(request) not in XML_TYPES:
        raise Problem(
            "content-type-unsupported",
            "Send the submission XML as application/xml or text/xml, or as the "
            "xml_submission_file part of multipart/form-data.",
        )




# ---------------------------------------------------------------------------------------------
# Submissions


@get(BASE)
async def list_submissions(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> list[SubmissionOut]:
    if request.query_params.get("deleted") == "true":
        rows = await trash_service.list_deleted_submissions(conn, actor, project_id, xml_form_id)
        return [submission_out(r, extended=extended_metadata(request)) for r in rows]
    rows = await submission_service.list_for_api(
        conn, actor, project_id, xml_form_id,
        limit=non_negative_int(request, "limit"), offset=non_negative_int(request, "offset") or 0,
    )
    extended = extended_metadata(request)
    return [submission_out(r, extended=extended) for r in rows]


@post(BASE, status_code=200)
async def create_submission(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None, state: State,
) -> SubmissionOut:
    actor = authorize(actor, "submission.update", project_id)
    form_id = await _form_id(conn, project_id, xml_form_id)
    if _media_type(request) == "multipart/form-data":
        # as OpenRosa sends it (central-backend's soak test posts this way): the XML part and
        # files named in it, stored in the same commit
        xml, files = await multipart_submission(request)
    else:
        _xml_body_type(request)
        xml, files = await request.body(), []
    try:
        result = await _ingest(request, conn, state, actor, project_id, xml_form_id, xml, files)
    except Problem as exc:
        if exc.slug != "submission-conflict":
            raise
        # REST creates only: Central answers any existing instanceID with 409.3 here (pyodk
        # reads that code as "exists"); OpenRosa keeps 409.1 for different XML
        instance_id = parse_or_problem(xml).instance_id
        raise Problem(
            "submission-exists", f"A submission {instance_id} already exists.",
            details={"fields": ["instanceId"], "values": [instance_id]},
        ) from exc
    if result.outcome == "duplicate":
        raise Problem(
            "submission-exists",
            f"A submission {result.instance_id} already exists.",
            details={"fields": ["instanceId"], "values": [result.instance_id]},
        )
    # the store audited it
    row = await _submission(conn, form_id, result.instance_id, scope=row_scope(actor, project_id))
    # pyodk adds `attachments` itself after creating; Central's answer has none.
    return submission_out(row, attachments=False)


@get(ONE)
async def get_submission(
    project_id: int, xml_form_id: str, instance_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> Response:
    actor = authorize(actor, "submission.read", project_id)
    form_id = await _form_id(conn, project_id, xml_form_id)
    scope = row_scope(actor, project_id)
    row = await submissions_db.get_submission_for_api(conn, form_id, instance_id, scope=scope)
    if row is None and instance_id.endswith(".xml"):
        instance_id = instance_id[:-4]
        xml = await submissions_db.get_submission_xml(conn, form_id, instance_id, scope=scope)
        if xml is None:
            raise Problem("submission-not-found")
        await audits.log_audit(
            conn, actor.id, "submission.read", acted_on(project_id, xml_form_id, instance_id),
            {"format": "xml"},
        )
        masked = await form_masked_paths(conn, actor, project_id, form_id)
        return Response(mask_submission_xml(bytes(xml), masked), media_type="application/xml")
    if row is None:
        raise Problem("submission-not-found")
    await audits.log_audit(
        conn, actor.id, "submission.read", acted_on(project_id, xml_form_id, instance_id)
    )
    return Response(submission_out(row, extended=extended_metadata(request)))


@delete(ONE, status_code=200)
async def delete_submission(
    project_id: int, xml_form_id: str, instance_id: str, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    await trash_service.delete_submission(conn, actor, project_id, xml_form_id, instance_id)
    return {"success": True}


@post(ONE + "/restore", status_code=200)
async def restore_submission(
    project_id: int, xml_form_id: str, instance_id: str, conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    await trash_service.restore_submission(conn, actor, project_id, xml_form_id, instance_id)
    return {"success": True}


@put(ONE)
async def edit_submission(
    project_id: int, xml_form_id: str, instance_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None, state: State,
) -> SubmissionOut:
    actor = authorize(actor, "submission.update", project_id)
    form_id = await _form_id(conn, project_id, xml_form_id)
    current = await _submission(conn, form_id, instance_id, scope=row_scope(actor, project_id))
    _xml_body_type(request)
    xml = await request.body()
    parsed = parse_or_problem(xml)
    if parsed.deprecated_id is None:
        raise Problem("submission-deprecated-id-missing")
    if parsed.deprecated_id != current["current_instance_id"]:
        raise Problem(
            "submission-deprecated-id-stale",
            f"deprecatedID {parsed.deprecated_id} is not the current version of {instance_id} "
            f"(that is {current['current_instance_id']}).",
        )
    result = await _ingest(request, conn, state, actor, project_id, xml_form_id, xml, [])
    if result.outcome != "edited":
        raise Problem("submission-exists", f"A version {parsed.instance_id} already exists.")
    return submission_out(await _submission(conn, form_id, instance_id,
                                            scope=row_scope(actor, project_id)))


@patch(ONE)
async def review_submission(
    project_id: int, xml_form_id: str, instance_id: str, data: ReviewPatch, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> SubmissionOut:
    """Central's review: a note may come in X-Action-Notes (percent-encoded)."""
    notes = request.headers.get("x-action-notes")
    row = await submission_service.review(
        conn, actor, project_id, xml_form_id, instance_id, data.review_state,
        unquote(notes) if notes else None,
    )
    return submission_out(row)


# ---------------------------------------------------------------------------------------------
# Attachments


@get(ONE + "/attachments")
async def list_submission_attachments(
    project_id: int, xml_form_id: str, instance_id: str, conn: asyncpg.Connection,
    actor: Actor | None,
) -> list[AttachmentOut]:
    actor = authorize(actor, "submission.read", project_id)
    form_id = await _form_id(conn, project_id, xml_form_id)
    row = await _submission(conn, form_id, instance_id, scope=row_scope(actor, project_id))
    await audits.log_audit(
        conn, actor.id, "submission.attachment.list",
        acted_on(project_id, xml_form_id, instance_id),
    )
    # a masked question's files are not listed: whether they were received is not told
    hidden = await withheld_files(
        conn, actor, project_id, form_id,
        await submissions_db.get_version_answers(conn, row["version_id"]),
    ) if await form_masked_paths(conn, actor, project_id, form_id) else frozenset()
    return [AttachmentOut(a["name"], a["exists"]) for a in row["attachments"]
            if a["name"] not in hidden]


@get(ONE + "/attachments/{name:str}")
async def get_submission_attachment(
    project_id: int, xml_form_id: str, instance_id: str, name: str, conn: asyncpg.Connection,
    actor: Actor | None, state: State,
) -> Response:
    content, _stored_type = await submission_service.attachment_content(
        conn, state.attachment_store, actor, project_id, xml_form_id, instance_id, name
    )
    return stored_file_response(content, name)


@post(ONE + "/attachments/{name:str}", status_code=200)
async def upload_submission_attachment(
    project_id: int, xml_form_id: str, instance_id: str, name: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None, state: State,
) -> dict:
    await submission_service.upload_attachment(
        conn, state.attachment_store, actor, project_id, xml_form_id, instance_id, name,
        await request.body(), request.headers.get("content-type"),
    )
    return {"success": True}


# ---------------------------------------------------------------------------------------------
# Comments, versions, audits


def comment_out(row, *, extended: bool = False) -> CommentOut:
    return CommentOut(
        body=row["body"],
        actor_id=row["actor_id"],
        created_at=row["created_at"],
        actor=_actor(row, "actor") if extended else msgspec.UNSET,
    )


@get(ONE + "/comments")
async def list_submission_comments(
    project_id: int, xml_form_id: str, instance_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> list[CommentOut]:
    comments = await submission_service.list_comments(
        conn, actor, project_id, xml_form_id, instance_id
    )
    extended = extended_metadata(request)
    return [comment_out(c, extended=extended) for c in comments]


@post(ONE + "/comments", status_code=200)
async def create_submission_comment(
    project_id: int, xml_form_id: str, instance_id: str, data: CommentCreate,
    conn: asyncpg.Connection, actor: Actor | None,
) -> CommentOut:
    comment = await submission_service.add_comment(
        conn, actor, project_id, xml_form_id, instance_id, data.body
    )
    return comment_out(comment)


@get(ONE + "/versions")
async def list_submission_versions(
    project_id: int, xml_form_id: str, instance_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> list[SubmissionVersionOut]:
    actor = authorize(actor, "submission.read", project_id)
    row = await _submission(conn, await _form_id(conn, project_id, xml_form_id), instance_id,
                            scope=row_scope(actor, project_id))
    versions = await submissions_db.list_versions(conn, row["id"])
    await audits.log_audit(
        conn, actor.id, "submission.version.list", acted_on(project_id, xml_form_id, instance_id)
    )
    extended = extended_metadata(request)
    return [version_out(v, extended=extended) for v in versions]


@get(ONE + "/versions/{version_id:str}")
async def get_submission_version(
    project_id: int, xml_form_id: str, instance_id: str, version_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> Response:
    actor = authorize(actor, "submission.read", project_id)
    form_id = await _form_id(conn, project_id, xml_form_id)
    row = await _submission(conn, form_id, instance_id, scope=row_scope(actor, project_id))
    as_xml = False
    version = await submissions_db.get_version(conn, row["id"], version_id)
    if version is None and version_id.endswith(".xml"):
        as_xml = True
        version = await submissions_db.get_version(conn, row["id"], version_id[:-4])
    if version is None:
        raise Problem("submission-not-found", "The submission has no such version.")
    await audits.log_audit(
        conn, actor.id, "submission.version.read", acted_on(project_id, xml_form_id, instance_id),
        {"version": version["instance_id"], **({"format": "xml"} if as_xml else {})},
    )
    if as_xml:
        masked = await form_masked_paths(conn, actor, project_id, form_id)
        return Response(mask_submission_xml(bytes(version["xml"]), masked),
                        media_type="application/xml")
    return Response(version_out(version, extended=extended_metadata(request)))


@get(ONE + "/audits")
async def list_submission_audits(
    project_id: int, xml_form_id: str, instance_id: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> list[AuditOut]:
    authorize(actor, "submission.read", project_id)
    await _submission(conn, await _form_id(conn, project_id, xml_form_id), instance_id,
                            scope=row_scope(actor, project_id))
    rows = await audits.list_audits_of(conn, acted_on(project_id, xml_form_id, instance_id))
    extended = extended_metadata(request)
    return [audit_out(r, extended=extended) for r in rows]


def audit_out(row, *, extended: bool = False) -> AuditOut:
    return AuditOut(
        actor_id=row["actor_id"],
        action=row["action"],
        actee_id=row["acted_on"],
        details=row["details"],
        logged_at=row["logged_at"],
        actor=_actor(row, "actor") if extended else msgspec.UNSET,
    )

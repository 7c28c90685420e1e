"""The one path a submission takes, whichever surface it came through (OpenRosa or REST):
parse safely, pick the form version, classify, store the files, commit; answer after commit."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

import asyncpg

from api.auth import Actor, authorize
from api.form_cache import SubmissionTarget, draft_submission_target, submission_target
from api.i18n import N_
from api.metrics import count_stored_submission
from api.problems import Problem
from api.services import entities as entities_service
from api.storage import AttachmentStore, blob_key
from db import blobs as blobs_db
from db import draft_submissions as drafts_db
from db import public_links as links_db
from db import submissions as submissions_db
from db.submissions import AttachmentIn
from exports.disclosure import new_record_key
from forms.screening import screening_row
from forms.submission import (
    IncomingFile,
    ParsedSubmission,
    SubmissionParseError,
    file_name_problem,
    parse_submission,
)

_PARSE_PROBLEMS = {
    "form-id-missing": "submission-form-id-missing",
    "instance-id-missing": "submission-instance-id-missing",
    "instance-id-too-long": "value-invalid",
    "xml-too-large": "payload-too-large",
}


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # "created" | "duplicate" | "edited" | "draft"
    instance_id: str  # the submission's key (its first instanceID)
    xml_form_id: str
    attachments_present: int | None = None
    # a risk screening's row as stored (the rubric's result), for the answer shown after it
    screening: dict | None = None


def parse_or_problem(xml: bytes, target: SubmissionTarget | None = None) -> ParsedSubmission:
    try:
        if target is None:
            return parse_submission(xml)
        return parse_submission(
            xml, repeat_paths=target.repeat_paths, binary_paths=target.binary_paths
        )
    except SubmissionParseError as exc:
        slug = _PARSE_PROBLEMS.get(exc.kind, "submission-xml-invalid")
        raise Problem(slug, f"{Problem(slug).title} ({exc})") from exc


async def ingest_submission(
    conn: asyncpg.Connection,
    store: AttachmentStore,
    actor: Actor | None,
    project_id: int,
    xml: bytes,
    files: list[IncomingFile],
    *,
    device_id: str | None = None,
    user_agent: str | None = None,
    expected_form_id: str | None = None,
    draft: bool = False,
) -> IngestResult:
    """Store one submission. With `draft`, it is a test of the form's current draft (the
    preview page): parsed, checked and classified the same way, then kept apart from the data
    in draft_submissions (as Central keeps draft test submissions). A once-only public link
    takes exactly one submission, however it is sent (its row is locked while it is stored;
    a resend of that same submission is a duplicate, anything else public-link-used)."""
    actor = authorize(actor, "form.update" if draft else "submission.create", project_id)
    args = (conn, store, actor, project_id, xml, files)
    kwargs = dict(device_id=device_id, user_agent=user_agent, expected_form_id=expected_form_id,
                  draft=draft)
    if actor.type != "public_link" or not actor.once:
        result = await _ingest(*args, **kwargs)
    else:
        first = parse_or_problem(xml)
        async with conn.transaction():
            if await links_db.lock_and_check_used(conn, actor.id, first.instance_id):
                raise Problem("public-link-used")
            result = await _ingest(*args, **kwargs)
    count_stored_submission(result.outcome)  # /metrics, once committed
    return result


async def _ingest(
    conn: asyncpg.Connection,
    store: AttachmentStore,
    actor: Actor,
    project_id: int,
    xml: bytes,
    files: list[IncomingFile],
    *,
    device_id: str | None,
    user_agent: str | None,
    expected_form_id: str | None,
    draft: bool,
) -> IngestResult:
    first = parse_or_problem(xml)
    if first.deprecated_id is not None and actor.type == "public_link":
        # every holder of a link is the same submitter: an edit would replace another's
        raise Problem("forbidden", N_("A public link cannot edit a submission."))
    if expected_form_id is not None and first.xml_form_id != expected_form_id:
        raise Problem(
            "submission-form-id-missing",
            N_("The submission is for form %(got)s, not %(expected)s."),
            params={"got": repr(first.xml_form_id), "expected": repr(expected_form_id)},
        )
    find_target = draft_submission_target if draft else submission_target
    target = await find_target(conn, project_id, first.xml_form_id, first.version)
    if target is None and draft:
        raise Problem(
            "form-not-found",
            N_("Form %(form)s has no draft with version %(version)s."),
            params={"form": repr(first.xml_form_id), "version": repr(first.version)},
        )
    if target is None:
        raise Problem(
            "form-not-found",
            N_("No published form %(form)s with version %(version)s in this project."),
            params={"form": repr(first.xml_form_id), "version": repr(first.version)},
        )
    if not actor.may_use_form(project_id, target.form_id):
        raise Problem("forbidden", N_("This app user is not assigned to the form."))
    if target.archived:
        raise Problem("project-archived")
    if target.state == "closed" and not draft:
        raise Problem("form-closed")
    parsed = first
    if target.repeat_paths or target.binary_paths:
        parsed = parse_or_problem(xml, target)

    expected = list(dict.fromkeys(parsed.attachment_names))
    for name in expected:
        reason = file_name_problem(name)
        if reason is not None:
            raise Problem(
                "attachment-name-invalid",
                f"The submission names a file {name!r} that cannot be stored: {reason}.",
            )
    wanted = set(expected)
    # Files are written to the store only once the database has decided to keep them (new,
    # missing from a duplicate, or part of an edit), inside the transaction that references
    # them: a refused resend leaves no file behind.
    contents: dict[str, bytes] = {}
    uploaded: dict[str, AttachmentIn] = {}
    for item in files:
        if item.name in wanted and item.name not in uploaded:  # unexpected files are ignored
            contents[item.name] = item.content
            uploaded[item.name] = AttachmentIn(
                item.name,
                blob_key(item.content),
                item.content_type or "application/octet-stream",
                len(item.content),
            )

    async def store_files(names) -> None:
        # inside the transaction that references them, under the blob lock (db/blobs.py)
        if not names:
            return
        await blobs_db.hold_for_writing(conn)
        for name in names:
            await store.put(contents[name])

    xml_md5 = hashlib.md5(xml).digest()
    screening = screening_row(parsed.answers) if target.is_screening else None

    if draft:
        if parsed.deprecated_id is not None:
            raise Problem("request-invalid", N_("A draft test submission cannot be edited."))
        async with conn.transaction() if uploaded else contextlib.nullcontext():
            await drafts_db.insert_draft_submission(
                conn,
                form_id=target.form_id,
                form_def_id=target.def_id,
                instance_id=parsed.instance_id,
                xml=xml,
                answers=parsed.answers,
                screening=screening,
                attachments=[
                    {"name": a.name, "blobKey": a.blob_key, "contentType": a.content_type,
                     "size": a.size}
                    for a in uploaded.values()
                ],
                submitter_id=actor.id,
            )
            await store_files(uploaded)
        return IngestResult("draft", parsed.instance_id, target.xml_form_id, len(uploaded),
                            screening)

    declarations = list(target.entity_declarations)

    def stored_version(submission_id: int, version_id: int) -> entities_service.StoredVersion:
        return entities_service.StoredVersion(
            project_id=project_id, xml_form_id=target.xml_form_id, form_def_id=target.def_id,
            submission_id=submission_id, version_id=version_id, instance_id=parsed.instance_id,
            xml=xml, submitter_id=actor.id, user_agent=user_agent, review_state=None,
        )

    async def store_entities(submission_id: int, version_id: int, *, fresh: bool = False) -> None:
        # in the transaction that stores the submission: a 201 means both are committed
        await entities_service.process_submission(
            conn, stored_version(submission_id, version_id), declarations, event="create",
            fresh=fresh,
        )

    plan = None
    if parsed.deprecated_id is None and declarations:
        plan = await entities_service.plan_single_create(conn, target.def_id, xml, declarations)
    new_args = submissions_db.new_submission_args(
        form_id=target.form_id, form_def_id=target.def_id, instance_id=parsed.instance_id,
        instance_name=parsed.instance_name, xml=xml, xml_md5=xml_md5, answers=parsed.answers,
        submitter_id=actor.id, device_id=device_id, user_agent=user_agent,
        expected_attachments=expected, uploaded=uploaded, screening=screening,
        record_key=new_record_key() if screening is not None else None,
    )
    if plan is not None:
        # the usual intake: the submission and the entity it creates, in one statement
        # (with its files written before it commits, when it has some)
        async with conn.transaction() if uploaded else contextlib.nullcontext():
            ids = await entities_service.store_submission_with_entity(
                conn, new_args, plan, stored_version(0, 0)
            )
            if ids is not None:
                await store_files(uploaded)
        if ids is not None:
            return IngestResult(
                "created", parsed.instance_id, target.xml_form_id, len(uploaded), screening
            )
    elif parsed.deprecated_id is None and declarations:
        async with conn.transaction():
            ids = await submissions_db.insert_new_submission_ids(conn, new_args)
            if ids is not None:
                await store_entities(*ids, fresh=True)
                await store_files(uploaded)
        if ids is not None:
            return IngestResult(
                "created", parsed.instance_id, target.xml_form_id, len(uploaded), screening
            )
    elif parsed.deprecated_id is None:
        # The common case: one statement, atomic on its own (in a transaction with the
        # writing of its files when it has some).
        async with conn.transaction() if uploaded else contextlib.nullcontext():
            ids = await submissions_db.insert_new_submission_ids(conn, new_args)
            if ids is not None:
                await store_files(uploaded)
        if ids is not None:
            return IngestResult(
                "created", parsed.instance_id, target.xml_form_id, len(uploaded), screening
            )
    async with conn.transaction():
        existing = await submissions_db.find_version(conn, target.form_id, parsed.instance_id)
        if existing is not None:
            if bytes(existing["xml_md5"]) != xml_md5:
                raise Problem(
                    "submission-conflict",
                    N_("A submission with instanceID %(id)s already exists with different content."),
                    params={"id": parsed.instance_id},
                )
            if uploaded:
                missing = {
                    a["name"]
                    for a in await submissions_db.list_attachments(conn, existing["version_id"])
                    if a["blob_key"] is None
                }
                uploaded = {n: a for n, a in uploaded.items() if n in missing}
                await store_files(uploaded)
            filled = await submissions_db.fill_missing_attachments(
                conn, existing["version_id"], uploaded
            )
            return IngestResult(
                "duplicate",
                existing["submission_instance_id"],
                target.xml_form_id,
                filled["attachments_present"],
                screening,
            )
        if parsed.deprecated_id is None:  # lost a race with an identical insert: retry as one
            raise Problem("submission-conflict", N_("The submission was being stored concurrently."))
        previous = await submissions_db.find_version(conn, target.form_id, parsed.deprecated_id)
        if previous is None:
            raise Problem(
                "submission-deprecated-id-unknown",
                N_("deprecatedID %(id)s names no submission of this form."),
                params={"id": parsed.deprecated_id},
            )
        if previous["submitter_id"] != actor.id and not actor.can("submission.update", project_id):
            # Central lets any submitter replace any submission; with this data, only its own
            # submitter or someone who may edit submissions can.
            raise Problem(
                "forbidden", N_("Only the original submitter or a project manager may edit it.")
            )
        await submissions_db.lock_submission(conn, previous["submission_id"])
        previous = await submissions_db.find_version(conn, target.form_id, parsed.deprecated_id)
        if not previous["current"]:
            raise Problem(
                "submission-deprecated-id-stale",
                N_("deprecatedID %(id)s is not the current version of its submission; it was "
                   "edited already."),
                params={"id": parsed.deprecated_id},
            )
        await store_files(uploaded)
        version_id = await submissions_db.insert_edit(
            conn,
            submission_id=previous["submission_id"],
            previous_version_id=previous["version_id"],
            form_id=target.form_id,
            form_def_id=target.def_id,
            instance_id=parsed.instance_id,
            deprecated_id=parsed.deprecated_id,
            instance_name=parsed.instance_name,
            xml=xml,
            xml_md5=xml_md5,
            answers=parsed.answers,
            submitter_id=actor.id,
            device_id=device_id,
            user_agent=user_agent,
            expected_attachments=expected,
            uploaded=uploaded,
        )
        if screening is not None:
            await submissions_db.upsert_screening(
                conn, previous["submission_id"], version_id, target.form_id, screening
            )
        if declarations:
            await store_entities(previous["submission_id"], version_id)
        return IngestResult(
            "edited", previous["submission_instance_id"], target.xml_form_id, None, screening
        )


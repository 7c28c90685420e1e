"""The one path a submission takes, whichever surface it came through (OpenRosa, REST, the
web form): may this actor submit (checked once, at the entry), then

1. receive: parse safely, find the form version it is for, check its files' names, classify
   it; nothing is written;
2. store, in one transaction with one commit point: a new submission | a duplicate (files
   missing from the first send filled in) | an edit (a new version of an existing one). The
   store writes its own audit row (`submission.create`, `submission.update.version`), so every
   surface logs alike; files go to the attachment store inside the transaction that refers
   to them;
3. answer after the commit.

The usual intake (a new submission with no files) is one statement, atomic on its own, so it
opens no transaction: its commit is that statement's."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field

import asyncpg

from api.auth import Actor, authorize
from api.form_cache import SubmissionTarget, draft_submission_target, submission_target
from api.i18n import N_
from api.metrics import count_stored_submission
from api.problems import Problem
from api.scopes import row_scope
from api.services import submission_entities
from api.storage import AttachmentStore, blob_key
from db import audits as audits_db
from db import blobs as blobs_db
from db import draft_submissions as drafts_db
from db import public_links as links_db
from db import submissions as submissions_db
from db import trash as trash_db
from db.scopes import UNSCOPED, RowScope
from db.submissions import AttachmentIn
from exports.disclosure import new_record_key
from forms.screening import record_region, screening_row
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


# A once-only link's respondent key for clients without a browser (Collect over OpenRosa).
OPENROSA_RESPONDENT = "openrosa"

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


@dataclass(frozen=True)
class Incoming:
    """A submission received: parsed, matched to its form version, its files' names checked,
    classified. Nothing of it is written yet."""

    project_id: int
    target: SubmissionTarget
    parsed: ParsedSubmission
    xml: bytes
    submitter_id: int
    device_id: str | None
    user_agent: str | None
    expected: list[str]  # the file names the submission names, in order
    uploaded: dict[str, AttachmentIn] = field(default_factory=dict)  # those sent, by name
    contents: dict[str, bytes] = field(default_factory=dict)
    screening: dict | None = None
    # the submitter may edit submissions of others (not only their own)
    may_edit_others: bool = False
    # a once-only public link: it takes exactly one submission from each respondent
    once_link_id: int | None = None
    once_respondent: str = OPENROSA_RESPONDENT
    # the submitter's row scope: an edit of a submission out of it is refused (api/scopes.py)
    scope: RowScope = UNSCOPED

    @property
    def region(self) -> str | None:
        """The record's region (db/scopes.py reads it)."""
        if self.screening is not None:
            return self.screening["region"]
        return record_region(self.parsed.answers)

    @property
    def xml_md5(self) -> bytes:
        return hashlib.md5(self.xml).digest()

    def acted_on(self, instance_id: str) -> str:
        return f"submission/{self.project_id}/{self.target.xml_form_id}/{instance_id}"


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
    respondent: str | None = None,
) -> IngestResult:
    """Store one submission. With `draft`, it is a test of the form's current draft (the
    preview page): parsed, checked and classified the same way, then kept apart from the data
    in draft_submissions (as Central keeps draft test submissions). A once-only public link
    takes exactly one submission from each respondent, however it is sent: `respondent` names
    the browser (the link's page), and OpenRosa clients share one key per link; the claim is
    written in the transaction that stores the submission, so of parallel ones exactly one
    wins; a resend of that same submission is a duplicate, anything else public-link-used."""
    actor = authorize(actor, "form.update" if draft else "submission.create", project_id)
    incoming = await receive_submission(
        conn, actor, project_id, xml, files, device_id=device_id, user_agent=user_agent,
        expected_form_id=expected_form_id, draft=draft, respondent=respondent,
    )
    writer = SubmissionWriter(conn, store, incoming)
    result = await (writer.store_draft() if draft else writer.store())
    count_stored_submission(result.outcome)  # /metrics, once committed
    return result


async def receive_submission(
    conn: asyncpg.Connection,
    actor: Actor,
    project_id: int,
    xml: bytes,
    files: list[IncomingFile],
    *,
    device_id: str | None,
    user_agent: str | None,
    expected_form_id: str | None,
    draft: bool,
    respondent: str | None = None,
) -> Incoming:
    """Parse the submission and find what it is for; refuse it before anything is written."""
    parsed = parse_or_problem(xml)
    if parsed.deprecated_id is not None and actor.type == "public_link":
        # every holder of a link is the same submitter: an edit would replace another's
        raise Problem("forbidden", N_("A public link cannot edit a submission."))
    if expected_form_id is not None and parsed.xml_form_id != expected_form_id:
        raise Problem(
            "submission-form-id-missing",
            N_("The submission is for form %(got)s, not %(expected)s."),
            params={"got": repr(parsed.xml_form_id), "expected": repr(expected_form_id)},
        )
    target = await _find_target(conn, project_id, parsed, draft=draft)
    if not actor.may_use_form(project_id, target.form_id):
        raise Problem("forbidden", N_("This app user is not assigned to the form."))
    if target.archived:
        raise Problem("project-archived")
    if target.state == "closed" and not draft:
        raise Problem("form-closed")
    if target.repeat_paths or target.binary_paths:
        parsed = parse_or_problem(xml, target)
    if draft and parsed.deprecated_id is not None:
        raise Problem("request-invalid", N_("A draft test submission cannot be edited."))
    # a phone tied to a centre (or a scoped user) touches no other centre's case
    await submission_entities.refuse_cases_out_of_scope(
        conn, actor, project_id, target.def_id, xml, list(target.entity_declarations))
    expected = list(dict.fromkeys(parsed.attachment_names))
    for name in expected:
        reason = file_name_problem(name)
        if reason is not None:
            raise Problem(
                "attachment-name-invalid",
                f"The submission names a file {name!r} that cannot be stored: {reason}.",
            )
    incoming = Incoming(
        project_id=project_id, target=target, parsed=parsed, xml=xml, submitter_id=actor.id,
        device_id=device_id, user_agent=user_agent, expected=expected,
        screening=screening_row(parsed.answers) if target.is_screening else None,
        may_edit_others=actor.can("submission.update", project_id),
        once_link_id=actor.id if actor.type == "public_link" and actor.once else None,
        once_respondent=respondent or OPENROSA_RESPONDENT,
        scope=row_scope(actor, project_id) if actor.type == "user" else UNSCOPED,
    )
    wanted = set(expected)
    for item in files:
        if item.name in wanted and item.name not in incoming.uploaded:  # others are ignored
            incoming.contents[item.name] = item.content
            incoming.uploaded[item.name] = AttachmentIn(
                item.name,
                blob_key(item.content),
                item.content_type or "application/octet-stream",
                len(item.content),
            )
    return incoming


async def _find_target(
    conn: asyncpg.Connection, project_id: int, parsed: ParsedSubmission, *, draft: bool
) -> SubmissionTarget:
    find = draft_submission_target if draft else submission_target
    target = await find(conn, project_id, parsed.xml_form_id, parsed.version)
    if target is not None:
        return target
    if draft:
        raise Problem(
            "form-not-found",
            N_("Form %(form)s has no draft with version %(version)s."),
            params={"form": repr(parsed.xml_form_id), "version": repr(parsed.version)},
        )
    raise Problem(
        "form-not-found",
        N_("No published form %(form)s with version %(version)s in this project."),
        params={"form": repr(parsed.xml_form_id), "version": repr(parsed.version)},
    )


class SubmissionWriter:
    """Stores one received submission: new | duplicate | edit (or a draft test), each with
    its audit row, inside the one transaction `store` opens (when one is needed)."""

    def __init__(self, conn: asyncpg.Connection, store: AttachmentStore, incoming: Incoming):
        self.conn = conn
        self.files = store
        self.incoming = incoming
        self.declarations = list(incoming.target.entity_declarations)

    def result(self, outcome: str, instance_id: str, present: int | None) -> IngestResult:
        incoming = self.incoming
        return IngestResult(
            outcome, instance_id, incoming.target.xml_form_id, present, incoming.screening
        )

    async def store(self) -> IngestResult:
        """The one commit point. A new submission with no files, whose entity (if any) is the
        simple case, is one statement and needs no transaction; anything else gets one."""
        incoming = self.incoming
        plan = None
        if incoming.parsed.deprecated_id is None and self.declarations:
            plan = await submission_entities.plan_single_create(
                self.conn, incoming.target.def_id, incoming.xml, self.declarations
            )
        one_statement = (
            incoming.parsed.deprecated_id is None
            and not incoming.uploaded
            and (plan is not None or not self.declarations)
            and incoming.once_link_id is None
        )
        async with contextlib.nullcontext() if one_statement else self.conn.transaction():
            if incoming.once_link_id is not None and await links_db.claim_respondent(
                self.conn, incoming.once_link_id, incoming.once_respondent,
                incoming.parsed.instance_id,
            ):
                raise Problem("public-link-used")
            result = await self.store_new(plan)
            if result is None:
                result = await self.store_existing()
        return result

    async def store_files(self, names) -> None:
        """Inside the transaction that references them, under the blob lock (db/blobs.py):
        a refused resend leaves no file behind."""
        if not names:
            return
        await blobs_db.hold_for_writing(self.conn)
        for name in names:
            await self.files.put(self.incoming.contents[name], self.conn)

    def stored_version(self, submission_id: int, version_id: int) -> submission_entities.StoredVersion:
        incoming = self.incoming
        return submission_entities.StoredVersion(
            project_id=incoming.project_id, xml_form_id=incoming.target.xml_form_id,
            form_def_id=incoming.target.def_id, submission_id=submission_id,
            version_id=version_id, instance_id=incoming.parsed.instance_id, xml=incoming.xml,
            submitter_id=incoming.submitter_id, user_agent=incoming.user_agent,
            review_state=None,
        )

    async def store_entities(self, submission_id: int, version_id: int, *, fresh: bool = False) -> None:
        # in the transaction that stores the submission: a 201 means both are committed
        await submission_entities.process_submission(
            self.conn, self.stored_version(submission_id, version_id), self.declarations,
            event="create", fresh=fresh,
        )

    async def store_new(self, plan) -> IngestResult | None:
        """A new submission with its first version, files, screening, entity and its
        `submission.create` audit row (db/submissions.py NEW_SUBMISSION_CTES); None when its
        instanceID is stored already (nothing written)."""
        incoming = self.incoming
        if incoming.parsed.deprecated_id is not None:
            return None
        args = submissions_db.new_submission_args(
            form_id=incoming.target.form_id, form_def_id=incoming.target.def_id,
            instance_id=incoming.parsed.instance_id,
            instance_name=incoming.parsed.instance_name, xml=incoming.xml,
            xml_md5=incoming.xml_md5, answers=incoming.parsed.answers,
            submitter_id=incoming.submitter_id, device_id=incoming.device_id,
            user_agent=incoming.user_agent, expected_attachments=incoming.expected,
            uploaded=incoming.uploaded, screening=incoming.screening,
            record_key=new_record_key() if incoming.screening is not None else None,
            region=incoming.region,
        )
        if plan is not None:
            # the submission and the entity it creates, in one statement
            ids = await submission_entities.store_submission_with_entity(
                self.conn, args, plan, self.stored_version(0, 0)
            )
        else:
            ids = await submissions_db.insert_new_submission_ids(self.conn, args)
            if ids is not None and self.declarations:
                await self.store_entities(*ids, fresh=True)
        if ids is None:
            return None
        await self.store_files(incoming.uploaded)
        return self.result("created", incoming.parsed.instance_id, len(incoming.uploaded))

    async def store_existing(self) -> IngestResult:
        """The instanceID is stored already: the same submission sent again (a duplicate), or
        an edit naming the version it replaces (deprecatedID)."""
        incoming = self.incoming
        existing = await submissions_db.find_version(
            self.conn, incoming.target.form_id, incoming.parsed.instance_id
        )
        if existing is not None:
            return await self.store_duplicate(existing)
        if incoming.parsed.deprecated_id is None:
            if await trash_db.deleted_submission_id(
                self.conn, incoming.target.form_id, incoming.parsed.instance_id
            ) is not None:
                raise Problem("submission-deleted")
            # lost a race with an identical insert: retry
            raise Problem("submission-conflict", N_("The submission was being stored concurrently."))
        return await self.store_edit()

    async def store_duplicate(self, existing) -> IngestResult:
        """Files missing from the first send are filled in; anything else is refused."""
        incoming = self.incoming
        if bytes(existing["xml_md5"]) != incoming.xml_md5:
            raise Problem(
                "submission-conflict",
                N_("A submission with instanceID %(id)s already exists with different content."),
                params={"id": incoming.parsed.instance_id},
            )
        uploaded = incoming.uploaded
        if uploaded:
            missing = {
                a["name"]
                for a in await submissions_db.list_attachments(self.conn, existing["version_id"])
                if a["blob_key"] is None
            }
            uploaded = {n: a for n, a in uploaded.items() if n in missing}
            await self.store_files(uploaded)
        filled = await submissions_db.fill_missing_attachments(
            self.conn, existing["version_id"], uploaded
        )
        return self.result(
            "duplicate", existing["submission_instance_id"], filled["attachments_present"]
        )

    async def store_edit(self) -> IngestResult:
        """A new version of the submission whose current version deprecatedID names."""
        incoming, parsed = self.incoming, self.incoming.parsed
        previous = await self._version_to_edit()
        await self.store_files(incoming.uploaded)
        version_id = await submissions_db.insert_edit(
            self.conn,
            submission_id=previous["submission_id"],
            previous_version_id=previous["version_id"],
            form_id=incoming.target.form_id,
            form_def_id=incoming.target.def_id,
            instance_id=parsed.instance_id,
            deprecated_id=parsed.deprecated_id,
            instance_name=parsed.instance_name,
            xml=incoming.xml,
            xml_md5=incoming.xml_md5,
            answers=parsed.answers,
            submitter_id=incoming.submitter_id,
            device_id=incoming.device_id,
            user_agent=incoming.user_agent,
            expected_attachments=incoming.expected,
            uploaded=incoming.uploaded,
            region=incoming.region,
        )
        if incoming.screening is not None:
            await submissions_db.upsert_screening(
                self.conn, previous["submission_id"], version_id, incoming.target.form_id,
                incoming.screening,
            )
        if self.declarations:
            await self.store_entities(previous["submission_id"], version_id)
        await audits_db.log_audit(
            self.conn, incoming.submitter_id, "submission.update.version",
            incoming.acted_on(previous["submission_instance_id"]),
            {"instanceId": parsed.instance_id, "deprecatedId": parsed.deprecated_id},
        )
        return self.result("edited", previous["submission_instance_id"], None)

    async def _version_to_edit(self):
        incoming, parsed = self.incoming, self.incoming.parsed
        previous = await submissions_db.find_version(
            self.conn, incoming.target.form_id, parsed.deprecated_id
        )
        if previous is None or (incoming.scope.limited and await submissions_db.get_current_version(
                self.conn, incoming.target.form_id, previous["submission_instance_id"],
                scope=incoming.scope) is None):
            raise Problem(  # out of the editor's scope: as if it did not exist
                "submission-deprecated-id-unknown",
                N_("deprecatedID %(id)s names no submission of this form."),
                params={"id": parsed.deprecated_id},
            )
        if previous["submitter_id"] != incoming.submitter_id and not incoming.may_edit_others:
            # Central lets any submitter replace any submission; with this data, only its own
            # submitter or someone who may edit submissions can.
            raise Problem(
                "forbidden", N_("Only the original submitter or a project manager may edit it.")
            )
        await submissions_db.lock_submission(self.conn, previous["submission_id"])
        previous = await submissions_db.find_version(
            self.conn, incoming.target.form_id, parsed.deprecated_id
        )
        if not previous["current"]:
            raise Problem(
                "submission-deprecated-id-stale",
                N_("deprecatedID %(id)s is not the current version of its submission; it was "
                   "edited already."),
                params={"id": parsed.deprecated_id},
            )
        return previous

    async def store_draft(self) -> IngestResult:
        """A test of the form's draft, kept apart from the data (draft_submissions)."""
        incoming = self.incoming
        async with self.conn.transaction() if incoming.uploaded else contextlib.nullcontext():
            await drafts_db.insert_draft_submission(
                self.conn,
                form_id=incoming.target.form_id,
                form_def_id=incoming.target.def_id,
                instance_id=incoming.parsed.instance_id,
                xml=incoming.xml,
                answers=incoming.parsed.answers,
                screening=incoming.screening,
                attachments=[
                    {"name": a.name, "blobKey": a.blob_key, "contentType": a.content_type,
                     "size": a.size}
                    for a in incoming.uploaded.values()
                ],
                submitter_id=incoming.submitter_id,
            )
            await self.store_files(incoming.uploaded)
        return self.result("draft", incoming.parsed.instance_id, len(incoming.uploaded))

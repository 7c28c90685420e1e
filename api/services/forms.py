"""Forms as a capability: compile an upload, create a form, set and publish drafts, change a
form's state, and the draft's files. REST (api/v1/forms.py), the pages, bootstrap and the CLI
all call these; none of them writes these rules again."""

from __future__ import annotations

import hashlib

import asyncpg

from api.form_cache import forget_form
from api.i18n import N_
from api.problems import Problem
from api.services import entity_files
from api.services.projects import require_writable_project
from api.storage import AttachmentStore
from db import audits, projects
from db import blobs as blobs_db
from db import draft_submissions as drafts_db
from db import entities as entities_db
from db import forms as forms_db
from forms.compile import (
    CompiledForm,
    FormCompileError,
    compile_xform_async,
    compile_xlsform_async,
    set_xform_version,
)
from forms.schema import FormSchemaError
from forms.sensitive import sensitive_leaks_in

XLSX_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel": "xls",
}
XML_TYPES = {"application/xml", "text/xml"}
FORM_STATES = ("open", "closing", "closed")
# The compile outcomes that ignoreWarnings accepts (Central's 400.16), with their detail.
WARNING_KINDS = {
    "xlsform-has-warnings": N_(
        "The XLSForm has %(n)s warning(s); resend with ignoreWarnings=true."),
    "xform-has-warnings": N_(
        "ODK Validate has %(n)s warning(s) about the XForm; resend with ignoreWarnings=true."),
}


def problem_from_compile_error(exc: FormCompileError) -> Problem:
    first = exc.problems[0] if exc.problems else None
    detail = first.message if first else str(exc)  # pyxform's own words (English)
    params = None
    if first and first.row is not None:
        where = f" (sheet {first.sheet}, row {first.row})" if first.sheet else f" (row {first.row})"
        if where.strip(" ()") not in detail:
            detail += where
    extra = {
        "problems": [{"message": p.message, "sheet": p.sheet, "row": p.row} for p in exc.problems]
    }
    details = None
    if exc.kind in WARNING_KINDS:
        extra["warnings"] = [p.message for p in exc.problems]
        # Central's 400.16 names them in details.warnings.xlsFormWarnings, for XForms too
        details = {"warnings": {"xlsFormWarnings": extra["warnings"]}}
        detail, params = (WARNING_KINDS[exc.kind], {"n": len(exc.problems)})
    if first and first.row is not None:
        extra["row"] = first.row
        extra["sheet"] = first.sheet
    return Problem(exc.kind, detail, extra=extra, params=params, details=details)


def _usable_id(compiled: CompiledForm) -> CompiledForm:
    """As Central: an id ending in .xls, .xlsx or .xml would clash with the download routes.
    A sensitive answer copied where masking does not reach (forms/sensitive.py
    `sensitive_leaks_in`) is refused too."""
    if compiled.xml_form_id.lower().endswith((".xls", ".xlsx", ".xml")):
        raise Problem(
            "request-invalid",
            N_("The form id %(id)s cannot end in .xls, .xlsx or .xml; give another form_id in "
               "the settings sheet."),
            params={"id": repr(compiled.xml_form_id)},
        )
    try:
        leaks = sensitive_leaks_in(compiled.xform)
    except FormSchemaError as exc:
        raise Problem("xform-invalid", str(exc)) from exc
    if leaks:
        raise Problem(
            "request-invalid",
            N_("A question marked sensitive would be shown unmasked in every list: %(places)s. "
               "Leave it out of the instance name and of the entity's label and properties."),
            params={"places": "; ".join(leaks)},
        )
    return compiled


async def compile_upload(
    body: bytes, content_type: str, *, ignore_warnings: bool, form_id_fallback: str | None = None
) -> tuple[CompiledForm, bytes | None]:
    """Compile an uploaded form body; the Content-Type says whether it is an XLSForm.
    form_id_fallback: the id of an XLSForm whose settings give none (Central's
    `X-XlsForm-FormId-Fallback` header, read by `forms.compile.form_id_from_fallback_header`)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body:
        raise Problem("request-invalid", N_("The request body is empty; send an XLSForm or XForm."))
    try:
        if media in XLSX_TYPES:
            compiled = await compile_xlsform_async(
                body, file_type=XLSX_TYPES[media], ignore_warnings=ignore_warnings,
                form_id_fallback=form_id_fallback,
            )
            return _usable_id(compiled), body
        if media in XML_TYPES:
            compiled = await compile_xform_async(body, ignore_warnings=ignore_warnings)
            return _usable_id(compiled), None
    except FormCompileError as exc:
        raise problem_from_compile_error(exc) from exc
    raise Problem(
        "content-type-unsupported",
        N_("Send an XLSForm as application/vnd.openxmlformats-officedocument.spreadsheetml.sheet "
           "or an XForm as application/xml."),
    )


async def _record_expected_media(conn, def_id: int, compiled: CompiledForm) -> None:
    for name in compiled.media:
        content_type = "text/csv" if name.endswith(".csv") else "application/octet-stream"
        await forms_db.expect_form_attachment(conn, def_id, name, content_type)


async def set_draft(
    conn: asyncpg.Connection,
    form,
    compiled: CompiledForm,
    xlsform: bytes | None,
    xlsform_name: str | None,
) -> int:
    """Make `compiled` the draft of a locked form. Files the published version has under the
    names the new draft uses carry over (as in ODK Central)."""
    def_id = await forms_db.create_draft(
        conn,
        form["id"],
        version=compiled.version,
        title=compiled.title,
        xlsform=xlsform,
        xlsform_name=xlsform_name,
        xform=compiled.xform,
        md5=compiled.md5,
    )
    await _record_expected_media(conn, def_id, compiled)
    if form["current_def_id"] is not None:
        await forms_db.carry_over_attachments(conn, def_id, form["current_def_id"])
    # as Central: a draft's {list}.csv with no file is the project's entity list of that name
    # at once, so the preview and draft testing read it as the published form will
    await entities_db.link_attachments(conn, def_id, form["project_id"])
    return def_id


async def publish_form_draft(
    conn: asyncpg.Connection,
    actor_id: int | None,
    project_id: int,
    xml_form_id: str,
    version: str | None,
) -> list[str]:
    """Publish the draft of a form (inside the caller's transaction). Its test submissions
    (the preview's) are deleted, as Central deletes them on publish; the blob keys of their
    files are returned, for `db.blobs.delete_unreferenced` once committed."""
    form = await forms_db.lock_form(conn, project_id, xml_form_id)
    if form is None:
        raise Problem("form-not-found")
    if form["draft_def_id"] is None:
        raise Problem("draft-missing")
    draft = await forms_db.get_def(conn, form["draft_def_id"])
    xform = draft["xform"]
    if version is not None and version != draft["version"]:
        try:
            xform = set_xform_version(xform, version)
        except FormCompileError as exc:
            raise problem_from_compile_error(exc) from exc
    final_version = version if version is not None else draft["version"]
    md5 = hashlib.md5(xform.encode("utf-8")).hexdigest()
    try:
        async with conn.transaction():  # a savepoint, so the caller's transaction survives
            await forms_db.publish_draft(
                conn, draft["id"], version=final_version, xform=xform, md5=md5
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "form_defs_published_version_unique":
            raise Problem(
                "form-version-exists",
                N_("Version %(version)s of %(form)s was already published; publish with a new "
                   "?version=."),
                params={"version": repr(final_version), "form": repr(xml_form_id)},
            ) from exc
        raise
    # a version with an entities block creates or extends its entity lists; {list}.csv links
    await entity_files.publish_form_entities(conn, actor_id, project_id, draft["id"], xform)
    await audits.log_audit(
        conn,
        actor_id,
        "form.update.publish",
        f"form/{project_id}/{xml_form_id}",
        {"version": final_version},
    )
    return await drafts_db.delete_form_draft_submissions(conn, form["id"])


async def create_form(
    conn: asyncpg.Connection,
    actor_id: int | None,
    project_id: int,
    compiled: CompiledForm,
    xlsform: bytes | None,
    *,
    publish: bool,
    xlsform_name: str | None = None,
) -> None:
    """Create a form with its first draft, and publish it when asked (one transaction)."""
    async with conn.transaction():
        await require_writable_project(conn, project_id)
        try:
            async with conn.transaction():
                created = await forms_db.create_form_with_draft(
                    conn,
                    project_id,
                    compiled.xml_form_id,
                    version=compiled.version,
                    title=compiled.title,
                    xlsform=xlsform,
                    xlsform_name=xlsform_name,
                    xform=compiled.xform,
                    md5=compiled.md5,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "forms_project_xml_form_id_unique":
                raise Problem(
                    "form-exists",
                    N_("A form %(form)s already exists in this project; upload a new version as "
                       "its draft."),
                    params={"form": repr(compiled.xml_form_id)},
                    details={
                        "fields": ["projectId", "xmlFormId"],
                        "values": [project_id, compiled.xml_form_id],
                    },
                ) from exc
            raise
        await _record_expected_media(conn, created["draft_def_id"], compiled)
        await entities_db.link_attachments(conn, created["draft_def_id"], project_id)
        await audits.log_audit(
            conn,
            actor_id,
            "form.create",
            f"form/{project_id}/{compiled.xml_form_id}",
            {"version": compiled.version, "warnings": compiled.warnings},
        )
        if publish:
            await publish_form_draft(conn, actor_id, project_id, compiled.xml_form_id, None)


async def require_project(conn, project_id: int) -> None:
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")


async def form_or_404(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, *, published: bool = False
) -> asyncpg.Record:
    """The one form lookup: the project's form (not deleted), or form-not-found; with
    `published`, only a form that has a published version (what phones, exports and OData
    read)."""
    row = await forms_db.get_form(conn, project_id, xml_form_id)
    if row is None or (published and row["current_def_id"] is None):
        raise Problem("form-not-found")
    return row




async def set_draft_from_upload(
    conn: asyncpg.Connection,
    actor_id: int | None,
    project_id: int,
    xml_form_id: str,
    compiled: CompiledForm | None,
    xlsform: bytes | None,
    xlsform_name: str | None,
) -> None:
    """A new draft of an existing form: `compiled` (an upload), or with None a copy of the
    published version. One transaction."""
    if compiled is not None and compiled.xml_form_id != xml_form_id:
        raise Problem(
            "form-id-mismatch",
            N_("The uploaded form's id is %(uploaded)s, not %(form)s."),
            params={"uploaded": repr(compiled.xml_form_id), "form": repr(xml_form_id)},
        )
    async with conn.transaction():
        await require_writable_project(conn, project_id)
        form = await forms_db.lock_form(conn, project_id, xml_form_id)
        if form is None:
            raise Problem("form-not-found")
        if compiled is None:
            if form["current_def_id"] is None:
                raise Problem("draft-missing", N_("Send a form definition: there is nothing to copy."))
            def_id = await forms_db.copy_current_to_draft(conn, form["id"], form["current_def_id"])
            await entities_db.link_attachments(conn, def_id, project_id)
        else:
            await set_draft(conn, form, compiled, xlsform, xlsform_name)
        await audits.log_audit(
            conn, actor_id, "form.update.draft.set", f"form/{project_id}/{xml_form_id}"
        )


async def publish_draft(
    conn: asyncpg.Connection,
    actor_id: int | None,
    project_id: int,
    xml_form_id: str,
    version: str | None,
    *,
    store: AttachmentStore | None,
) -> None:
    """Publish the draft in a transaction of its own, then forget the cached form. With the
    attachment store, the files of the draft's test submissions go too (when nothing else
    references the same content); every caller names it, so none forgets the files."""
    async with conn.transaction():
        await require_writable_project(conn, project_id)
        freed = await publish_form_draft(conn, actor_id, project_id, xml_form_id, version)
    forget_form(project_id, xml_form_id)
    if store is not None:
        await blobs_db.delete_unreferenced(conn, store, freed)


async def set_form_state(
    conn: asyncpg.Connection, actor_id: int | None, project_id: int, xml_form_id: str, state: str
) -> None:
    """`open`, `closing` (no new phones, submissions still taken) or `closed`."""
    if state not in FORM_STATES:
        raise Problem("request-invalid", N_("state must be one of %(states)s."),
                      params={"states": ", ".join(FORM_STATES)})
    async with conn.transaction():
        await require_writable_project(conn, project_id)
        if await forms_db.set_form_state(conn, project_id, xml_form_id, state) is None:
            raise Problem("form-not-found")
        await audits.log_audit(
            conn, actor_id, "form.update", f"form/{project_id}/{xml_form_id}", {"state": state}
        )
    forget_form(project_id, xml_form_id)


async def draft_def_id(conn: asyncpg.Connection, project_id: int, xml_form_id: str) -> int:
    form = await form_or_404(conn, project_id, xml_form_id)
    if form["draft_def_id"] is None:
        raise Problem("draft-missing", N_("The form has no draft; create one first."))
    return form["draft_def_id"]


async def list_draft_attachments(conn: asyncpg.Connection, project_id: int, xml_form_id: str):
    """The files the draft names: rows with name, exists, md5, updated_at."""
    def_id = await draft_def_id(conn, project_id, xml_form_id)
    return await forms_db.list_form_attachments(conn, def_id)


async def put_draft_attachment(
    conn: asyncpg.Connection,
    actor_id: int | None,
    project_id: int,
    xml_form_id: str,
    name: str,
    content_type: str | None,
    body: bytes,
) -> None:
    """Upload a file the draft names (image, audio, CSV for select_one_from_file / pulldata)."""
    async with conn.transaction():
        await require_writable_project(conn, project_id)
        def_id = await draft_def_id(conn, project_id, xml_form_id)
        expected = {r["name"] for r in await forms_db.list_form_attachments(conn, def_id)}
        if name not in expected:
            raise Problem(
                "attachment-not-found",
                N_("The form does not use a file named %(name)s; it expects: %(expected)s.")
                if expected else N_("The form does not use a file named %(name)s; it expects none."),
                params={"name": repr(name), "expected": ", ".join(sorted(expected))},
            )
        await forms_db.put_form_attachment(
            conn,
            def_id,
            name,
            content_type or "application/octet-stream",
            body,
            hashlib.md5(body).hexdigest(),
        )
        await audits.log_audit(
            conn, actor_id, "form.attachment.update", f"form/{project_id}/{xml_form_id}",
            {"name": name},
        )


async def create_draft_and_publish_from_file(
    conn: asyncpg.Connection,
    project_id: int,
    path,
    *,
    ignore_warnings: bool = False,
    version: str | None = None,
    store: AttachmentStore | None = None,
) -> tuple[str, str]:
    """CLI: publish an XLSForm/XForm file as a new form, or as the next version of its form."""
    body = path.read_bytes()
    content_type = (
        "application/xml"
        if path.suffix.lower() == ".xml"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    compiled, xlsform = await compile_upload(body, content_type, ignore_warnings=ignore_warnings)
    async with conn.transaction():
        form = await forms_db.lock_form(conn, project_id, compiled.xml_form_id)
        if form is None:
            await create_form(
                conn, None, project_id, compiled, xlsform, publish=False, xlsform_name=path.name
            )
        else:
            await set_draft(conn, form, compiled, xlsform, path.name)
        freed = await publish_form_draft(conn, None, project_id, compiled.xml_form_id, version)
    if store is not None:
        await blobs_db.delete_unreferenced(conn, store, freed)
    return compiled.xml_form_id, version if version is not None else compiled.version

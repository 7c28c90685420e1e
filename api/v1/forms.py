"""Forms: upload (XLSForm or XForm), drafts, publishing, state, downloads."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec
from litestar import Request, Response, get, patch, post

from api.auth import Actor, authorize, openrosa_actor
from api.form_cache import version_schema
from api.http import content_disposition
from api.problems import Problem
from api.services import forms as forms_service
from api.services.forms import compile_upload, form_or_404
from api.v1.odata import service_document_response
from api.v1.schemas import FormOut, FormStatePatch
from db import forms as forms_db
from forms.compile import form_id_from_fallback_header


def form_out(row) -> FormOut:
    published = row["current_def_id"] is not None
    return FormOut(
        project_id=row["project_id"],
        xml_form_id=row["xml_form_id"],
        name=row["title"] if published else row["draft_title"],
        version=row["version"] if published else row["draft_version"],
        hash=row["md5"] if published else row["draft_md5"],
        state=row["state"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        published_at=row["published_at"],
        draft_version=row["draft_version"],
    )


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


@get("/v1/projects/{project_id:int}/forms")
async def list_forms(
    project_id: int, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormOut]:
    authorize(actor, "form.read", project_id)
    await forms_service.require_project(conn, project_id)
    return [form_out(r) for r in await forms_db.list_forms(conn, project_id)]


@post("/v1/projects/{project_id:int}/forms", status_code=200)
async def upload_form(
    project_id: int, request: Request, conn: asyncpg.Connection, actor: Actor | None
) -> FormOut:
    actor = authorize(actor, "form.create", project_id)
    await forms_service.require_project(conn, project_id)
    body = await request.body()
    compiled, xlsform = await compile_upload(
        body,
        request.headers.get("content-type", ""),
        ignore_warnings=_flag(request.query_params.get("ignoreWarnings")),
        form_id_fallback=form_id_from_fallback_header(
            request.headers.get("x-xlsform-formid-fallback")
        ),
    )
    await forms_service.create_form(
        conn,
        actor.id,
        project_id,
        compiled,
        xlsform,
        publish=_flag(request.query_params.get("publish")),
        xlsform_name=request.headers.get("x-xlsform-filename"),
    )
    return form_out(await form_or_404(conn, project_id, compiled.xml_form_id))


@get("/v1/projects/{project_id:int}/forms/{form_ref:str}")
async def get_form(
    project_id: int,
    form_ref: str,
    request: Request,
    conn: asyncpg.Connection,
    actor: Actor | None,
) -> Response:
    """GET .../forms/{xmlFormId}, and the same path with .xml (the XForm) or .xlsx, or .svc
    (the OData service document, answered by api.v1.odata)."""
    if form_ref.endswith(".svc"):
        return await service_document_response(
            project_id, form_ref[:-4], request, conn, actor
        )
    for suffix, kind in ((".xml", "xml"), (".xlsx", "xlsx")):
        if form_ref.endswith(suffix):
            if actor is None and kind == "xml":
                # ODK Collect downloads the XForm here too: answer with its Digest challenge
                actor = await openrosa_actor(conn, request)
            authorize(actor, "form.download", project_id)
            row = await form_or_404(conn, project_id, form_ref[: -len(suffix)])
            if row["current_def_id"] is None:
                raise Problem("form-not-found", "The form has no published version.")
            definition = await forms_db.get_def(conn, row["current_def_id"])
            if kind == "xml":
                return Response(
                    definition["xform"].encode("utf-8"),
                    media_type="text/xml",
                    headers={"X-OpenRosa-Version": "1.0"},
                )
            if definition["xlsform"] is None:
                raise Problem("not-found", "This form was uploaded as an XForm; it has no XLSForm.")
            return Response(
                definition["xlsform"],
                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                headers={"Content-Disposition": content_disposition(f"{row['xml_form_id']}.xlsx")},
            )
    authorize(actor, "form.read", project_id)
    row = await form_or_404(conn, project_id, form_ref)
    return Response(form_out(row))


@post("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft", status_code=200)
async def create_draft(
    project_id: int,
    xml_form_id: str,
    request: Request,
    conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    """A new draft from the body (XLSForm or XForm), or, with no body, from the published version."""
    actor = authorize(actor, "form.update", project_id)
    body = await request.body()
    compiled = xlsform = None
    if body:
        compiled, xlsform = await compile_upload(
            body,
            request.headers.get("content-type", ""),
            ignore_warnings=_flag(request.query_params.get("ignoreWarnings")),
            # a new version of this form: its id, unless the client names another
            form_id_fallback=form_id_from_fallback_header(
                request.headers.get("x-xlsform-formid-fallback")
            ) or xml_form_id,
        )
    await forms_service.set_draft_from_upload(
        conn, actor.id, project_id, xml_form_id, compiled, xlsform,
        request.headers.get("x-xlsform-filename"),
    )
    return {"success": True}


@post("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/publish", status_code=200)
async def publish_draft(
    project_id: int,
    xml_form_id: str,
    request: Request,
    conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    actor = authorize(actor, "form.update", project_id)
    await forms_service.publish_draft(
        conn, actor.id, project_id, xml_form_id, request.query_params.get("version"),
        store=request.app.state.attachment_store,
    )
    return {"success": True}


@patch("/v1/projects/{project_id:int}/forms/{xml_form_id:str}")
async def update_form(
    project_id: int,
    xml_form_id: str,
    data: FormStatePatch,
    conn: asyncpg.Connection,
    actor: Actor | None,
) -> FormOut:
    actor = authorize(actor, "form.update", project_id)
    await forms_service.set_form_state(conn, actor.id, project_id, xml_form_id, data.state)
    return form_out(await form_or_404(conn, project_id, xml_form_id))


class FormAttachmentOut(msgspec.Struct, rename="camel"):
    name: str
    type: str
    exists: bool
    hash: str | None
    updated_at: datetime | None


@get("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/attachments")
async def list_draft_attachments(
    project_id: int, xml_form_id: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormAttachmentOut]:
    authorize(actor, "form.update", project_id)
    return [
        FormAttachmentOut(
            name=r["name"],
            type="file",
            exists=r["exists"],
            hash=r["md5"],
            updated_at=r["updated_at"] if r["exists"] else None,
        )
        for r in await forms_service.list_draft_attachments(conn, project_id, xml_form_id)
    ]


@post(
    "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/draft/attachments/{name:str}",
    status_code=200,
)
async def upload_draft_attachment(
    project_id: int,
    xml_form_id: str,
    name: str,
    request: Request,
    conn: asyncpg.Connection,
    actor: Actor | None,
) -> dict:
    """Upload a file the draft names (image, audio, CSV for select_one_from_file / pulldata)."""
    actor = authorize(actor, "form.update", project_id)
    body = await request.body()
    await forms_service.put_draft_attachment(
        conn, actor.id, project_id, xml_form_id, name, request.headers.get("content-type"), body
    )
    return {"success": True}


class FormFieldOut(msgspec.Struct, rename="camel"):
    name: str
    path: str
    type: str
    binary: bool | None = None
    select_multiple: bool | None = None


def _central_type(field) -> str:
    if field.kind == "repeat":
        return "repeat"
    if field.kind in ("group",) or field.children:
        return "structure"
    if field.type in ("select_one", "select_multiple", "rank", "note"):
        return "string"
    return field.type


@get("/v1/projects/{project_id:int}/forms/{xml_form_id:str}/fields")
async def form_fields(
    project_id: int, xml_form_id: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormFieldOut]:
    """The published version's fields, as ODK Central lists them (ruODK's form_schema)."""
    authorize(actor, "form.read", project_id)
    row = await form_or_404(conn, project_id, xml_form_id)
    if row["current_def_id"] is None:
        raise Problem("form-not-found", "The form has no published version.")
    schema = await version_schema(conn, row["current_def_id"])
    return [
        FormFieldOut(
            name=f.name,
            path="/" + f.path,
            type=_central_type(f),
            binary=True if f.type == "binary" else None,
            select_multiple=True if f.type == "select_multiple" else None,
        )
        for f in schema.walk()
    ]

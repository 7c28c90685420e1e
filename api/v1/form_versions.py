"""A form's published versions, as ODK Central lists them (pyodk reads the newest one here):

GET /v1/projects/{pid}/forms/{xmlFormId}/versions                    newest published first
GET /v1/projects/{pid}/forms/{xmlFormId}/versions/{version}          one version
GET /v1/projects/{pid}/forms/{xmlFormId}/versions/{version}.xml      its XForm
GET /v1/projects/{pid}/forms/{xmlFormId}/versions/{version}.xlsx     its XLSForm, if it had one

A version that needs percent-encoding (`/`, spaces) is reached encoded (api.paths). A version
that itself ends in `.xml` is found as such before the suffix is read as a format.
"""

from __future__ import annotations

import asyncpg
from litestar import Response, get

from api.auth import Actor, authorize
from api.http import content_disposition
from api.problems import Problem
from api.services.forms import form_or_404
from api.v1.schemas import FormOut
from db import forms as forms_db

VERSIONS = "/v1/projects/{project_id:int}/forms/{xml_form_id:str}/versions"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def version_out(form, definition) -> FormOut:
    return FormOut(
        project_id=form["project_id"],
        xml_form_id=form["xml_form_id"],
        name=definition["title"],
        version=definition["version"],
        hash=definition["md5"],
        state=form["state"],
        created_at=form["created_at"],
        updated_at=form["updated_at"],
        published_at=definition["published_at"],
    )


async def _form(conn: asyncpg.Connection, project_id: int, xml_form_id: str):
    form = await form_or_404(conn, project_id, xml_form_id)
    return form


@get(VERSIONS)
async def list_form_versions(
    project_id: int, xml_form_id: str, conn: asyncpg.Connection, actor: Actor | None
) -> list[FormOut]:
    authorize(actor, "form.read", project_id)
    form = await _form(conn, project_id, xml_form_id)
    defs = await forms_db.list_published_defs(conn, form["id"])
    return [version_out(form, d) for d in reversed(defs)]


@get(VERSIONS + "/{version_ref:str}")
async def get_form_version(
    project_id: int, xml_form_id: str, version_ref: str, conn: asyncpg.Connection,
    actor: Actor | None,
) -> Response:
    authorize(actor, "form.read", project_id)
    form = await _form(conn, project_id, xml_form_id)
    found = await forms_db.get_published_def(conn, form["id"], version_ref)
    kind = "json"
    if found is None:
        for suffix in (".xml", ".xlsx"):
            if version_ref.endswith(suffix):
                found = await forms_db.get_published_def(
                    conn, form["id"], version_ref[: -len(suffix)]
                )
                kind = suffix[1:]
                break
    if found is None:
        raise Problem("form-version-not-found")
    if kind == "json":
        return Response(version_out(form, found))
    definition = await forms_db.get_def(conn, found["id"])
    if kind == "xml":
        return Response(definition["xform"].encode("utf-8"), media_type="application/xml")
    if definition["xlsform"] is None:
        raise Problem("not-found", "This version was uploaded as an XForm; it has no XLSForm.")
    return Response(
        bytes(definition["xlsform"]),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": content_disposition(f"{form['xml_form_id']}.xlsx")},
    )

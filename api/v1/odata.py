"""OData v4 feed of a form's submissions, as ODK Central serves it:

GET /v1/projects/{pid}/forms/{xmlFormId}.svc               service document (via forms.get_form)
GET /v1/projects/{pid}/forms/{xmlFormId}.svc/$metadata     EDMX
GET /v1/projects/{pid}/forms/{xmlFormId}.svc/Submissions   root table
GET /v1/projects/{pid}/forms/{xmlFormId}.svc/Submissions.{repeat path}   repeat tables
GET /v1/projects/{pid}/forms/{xmlFormId}.svc/Submissions('{instanceId}')  one submission

Query options: $top, $skip, $count, $filter, $orderby (metadata fields, as db.odata_filter
documents), $select, $expand=*, $wkt, $skiptoken. Rows are newest first (createdAt, then id,
descending) so `@odata.nextLink` pages are stable; its `$skiptoken` is Central's format: "01"
then base64 of {"instanceId": ...} (root table) or {"repeatId": ...} (repeat tables).

Checks first, then stream: permission, form, table, options and the count are resolved and
the read is written to the audit log before the first byte; the rows are then read on the
stream's own connection through a server-side cursor in a read-only snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import asyncpg
from cachetools import LRUCache
from litestar import Request, Response, get
from litestar.response import Stream

from api.auth import Actor, authorize
from api.form_cache import version_schema_of
from api.http import base_url
from api.i18n import N_
from api.paths import encoded_path
from api.problems import Problem
from api.scopes import row_scope
from api.services.forms import form_or_404
from api.services.sensitive import masked_paths, masked_records, refuse_masked_fields
from api.v1.query_params import non_negative_int
from db import audits
from db import forms as forms_db
from db import submissions as submissions_db
from db.odata_filter import ROOT_PREFIX, ODataQueryError, compile_filter, compile_orderby, tokenize
from db.pool import read_snapshot
from db.scopes import RowScope
from exports.odata import (
    ROOT_TABLE,
    ODataForm,
    ODataRequestError,
    Page,
    PageResult,
    RowOptions,
    compile_select,
    edmx,
    odata_form,
    service_document,
    stream_table,
)
from exports.streaming import HeldStream, prefetched, taking_turns
from forms.sensitive import masked_schema

ODATA_HEADERS = {"OData-Version": "4.0"}
JSON_MEDIA_TYPE = "application/json; charset=utf-8"  # as Central sends OData rows
# as Central sends a service document (test/integration/api/odata.js)
SERVICE_MEDIA_TYPE = "application/json; charset=utf-8; odata.metadata=minimal"
_TABLE = re.compile(r"^(Submissions(?:\.[A-Za-z0-9_.]+)?)(?:\('([^']*)'\))?$")
# The keys Central addresses a submission by (lib/resources/odata.js): letters, digits and
# dashes, after an optional "uuid:". Any other instanceID is 404 over OData, as on Central;
# the REST route /submissions/{instanceId} still reaches it.
_KEY = re.compile(r"^(?:uuid:)?[a-z0-9-]+$", re.IGNORECASE)
_forms: LRUCache[tuple[int, frozenset[str]], ODataForm] = LRUCache(maxsize=256)
_SAFE = "*,'()"  # left as they are in nextLink query values (e.g. $expand=*)


def _odata_form(def_id: int, xform: str, actor: Actor | None, project_id: int) -> ODataForm:
    """The feed of a version as the actor reads it: its sensitive questions masked (typed
    Edm.String in $metadata, `[masked]` in the rows) unless it may read them."""
    schema = version_schema_of(def_id, xform)
    masked = masked_paths(actor, project_id, schema)
    cached = _forms.get((def_id, masked))
    if cached is None:
        cached = _forms[(def_id, masked)] = odata_form(masked_schema(schema, masked))
    return cached


async def _published_form(conn: asyncpg.Connection, project_id: int, xml_form_id: str,
                          actor: Actor | None):
    form = await form_or_404(conn, project_id, xml_form_id, published=True)
    definition = await forms_db.get_def(conn, form["current_def_id"])
    return form, _odata_form(definition["id"], definition["xform"], actor, project_id)


def _service_path(request: Request) -> str:
    path = encoded_path(request)
    end = path.find(".svc")
    return path[: end + 4] if end != -1 else path


async def service_document_response(
    project_id: int, xml_form_id: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> Response:
    """GET .../forms/{xmlFormId}.svc (routed here by forms.get_form)."""
    authorize(actor, "submission.read", project_id)
    _, form = await _published_form(conn, project_id, xml_form_id, actor)
    service_url = base_url(request, request.app.state.settings) + _service_path(request)
    return Response(
        service_document(form, service_url), media_type=SERVICE_MEDIA_TYPE, headers=ODATA_HEADERS
    )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"



UNREADABLE_TOKEN = N_("The $skiptoken cannot be read.")


def make_skiptoken(data: dict[str, str]) -> str:
    return "01" + base64.b64encode(json.dumps(data).encode()).decode()


def parse_skiptoken(token: str) -> dict[str, Any]:
    if not token.startswith("01"):
        raise Problem("odata-query-invalid", N_("The $skiptoken is not one this server made."))
    try:
        data = json.loads(base64.b64decode(token[2:] + "=" * (-len(token[2:]) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise Problem("odata-query-invalid", UNREADABLE_TOKEN) from exc
    if not isinstance(data, dict):
        raise Problem("odata-query-invalid", UNREADABLE_TOKEN)
    return data


def _url_with(request: Request, changes: dict[str, str | None]) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    query = "&".join(quote(k, safe="$") + "=" + quote(v, safe=_SAFE) for k, v in params)
    return encoded_path(request) + (f"?{query}" if query else "")


@get("/v1/projects/{project_id:int}/forms/{form_svc:str}/{table:str}")
async def odata_resource(
    project_id: int, form_svc: str, table: str, request: Request, conn: asyncpg.Connection,
    actor: Actor | None,
) -> Response:
    actor = authorize(actor, "submission.read", project_id)
    if not form_svc.endswith(".svc"):
        raise Problem("not-found")
    xml_form_id = form_svc[:-4]
    form_row, form = await _published_form(conn, project_id, xml_form_id, actor)
    if table == "$metadata":
        return Response(
            edmx(form).encode("utf-8"),
            media_type="application/xml; charset=utf-8",
            headers=ODATA_HEADERS,
        )
    match = _TABLE.match(table)
    if match is None or match.group(1) not in form.tables:
        raise Problem("not-found", N_("The form has no OData table %(table)s."),
                      params={"table": repr(table)})
    table_name, key = match.group(1), match.group(2)
    if key is not None and table_name != ROOT_TABLE:
        raise Problem("not-found", N_("Only Submissions('instanceId') can be addressed by key."))
    _check_key(key)
    return await _serve_table(
        request, conn, actor, project_id, xml_form_id, form_row, form, table_name, key
    )


@get("/v1/projects/{project_id:int}/forms/{form_svc:str}/{table:str}/{nav:path}")
async def odata_navigation(
    project_id: int, form_svc: str, table: str, nav: str, request: Request,
    conn: asyncpg.Connection, actor: Actor | None,
) -> Response:
    """A submission's repeat rows by its navigation link: Submissions('id')/group/repeat."""
    actor = authorize(actor, "submission.read", project_id)
    if not form_svc.endswith(".svc"):
        raise Problem("not-found")
    xml_form_id = form_svc[:-4]
    form_row, form = await _published_form(conn, project_id, xml_form_id, actor)
    match = _TABLE.match(table)
    steps = [step for step in nav.split("/") if step]
    if match is None or match.group(1) != ROOT_TABLE or match.group(2) is None or not steps:
        raise Problem("not-found", N_("No OData resource %(resource)s."),
                      params={"resource": table + nav})
    if any("(" in step for step in steps):
        raise Problem(
            "not-found",
            N_("Navigation below a repeat row is not supported; read the repeat table "
               "%(table)s instead."),
            params={"table": ".".join((ROOT_TABLE, *(s.split("(")[0] for s in steps)))},
        )
    _check_key(match.group(2))
    table_name = ".".join((ROOT_TABLE, *steps))
    if table_name not in form.tables:
        raise Problem("not-found", N_("The form has no repeat %(repeat)s."),
                      params={"repeat": repr("/".join(steps))})
    return await _serve_table(
        request, conn, actor, project_id, xml_form_id, form_row, form, table_name,
        match.group(2),
    )


def _check_key(key: str | None) -> None:
    if key is not None and _KEY.match(key) is None:
        raise Problem(
            "not-found",
            N_("OData addresses a submission only by an instanceID of letters, digits and "
               "dashes (optionally after uuid:), as Central does; read this one from "
               "/v1/projects/{projectId}/forms/{xmlFormId}/submissions/{instanceId}."),
        )


async def _serve_table(
    request: Request, conn: asyncpg.Connection, actor: Actor, project_id: int,
    xml_form_id: str, form_row, form, table_name: str, key: str | None,
) -> Response:
    """One OData table, all of it or (key) the rows of one submission."""
    is_root = table_name == ROOT_TABLE
    query = request.query_params
    expand_all = _expand_all(query)
    top = non_negative_int(request, "$top", "odata-query-invalid")
    skip = non_negative_int(request, "$skip", "odata-query-invalid") or 0
    want_count = _flag(query.get("$count"))
    masked = _masked_paths(actor, project_id, form, query)
    scope = row_scope(actor, project_id)  # rows, $count and nextLink: only the actor's
    keep, where, params, order = await _table_query(request, conn, form_row, form, table_name,
                                                    key, scope)
    cursor = after_row = None
    if query.get("$skiptoken"):
        skip = 0
        cursor, after_row = await _resume_at(conn, form_row, query.get("$skiptoken"), scope,
                                             is_root=is_root, ordered=order is not None)

    domain = base_url(request, request.app.state.settings)
    context = f"{domain}{_service_path(request)}/$metadata#{table_name}"
    total = None
    if is_root and want_count:
        total = await submissions_db.count_submissions_for_odata(conn, form_row["id"], where,
                                                                 params, scope=scope)

    def audit():  # written once the body is open: a refused stream leaves no audit row
        return _audit_read(conn, actor, project_id, xml_form_id, table_name, key, query)

    if top == 0 and is_root:
        await audit()
        body: dict[str, Any] = {"value": [], "@odata.context": context}
        if want_count:
            body["@odata.count"] = total
        return Response(body, media_type=JSON_MEDIA_TYPE, headers=ODATA_HEADERS)

    def footer(result: PageResult) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.context": context}
        if result.remaining > 0 and result.emitted > 0:
            if is_root and order is not None:
                changes = {"$skip": str(skip + result.emitted), "$skiptoken": None}
            elif is_root:
                changes = {"$skip": None, "$skiptoken": make_skiptoken(
                    {"instanceId": result.last_instance_id or ""})}
            else:
                changes = {"$skip": None, "$skiptoken": make_skiptoken(
                    {"repeatId": result.last_row_id or ""})}
            out["@odata.nextLink"] = domain + _url_with(request, changes)
        if want_count:
            out["@odata.count"] = total if total is not None else result.total
        return out

    if is_root:  # the database pages the root table; one more row tells whether more follow
        records = _records(
            request, form_row["id"], where, params, cursor, order,
            None if top is None else top + 1, skip, scope,
        )
        page = Page(top=top)
    else:
        records = _records(request, form_row["id"], where, params, None, order, None, 0, scope)
        page = Page(top=top, skip=skip, after_row=after_row)

    async def body() -> AsyncIterator[bytes]:
        rows = await prefetched(records)  # the connection, the snapshot, the first rows
        rows = masked_records(rows, masked) if masked else rows
        async for chunk in stream_table(
            form, table_name, rows,
            options=RowOptions(wkt=_flag(query.get("$wkt")), expand=expand_all),
            keep=keep, page=page, footer=footer,
        ):
            yield chunk

    # The stream slot, the connection and the first rows are taken before the headers: a
    # client queued behind other streams waits for its status line, and a database that
    # refuses is a problem, never a cut 200's body.
    body_stream = await HeldStream.start(request.app.state.stream_slots, body)
    await body_stream.then(audit())
    return Stream(body_stream, media_type=JSON_MEDIA_TYPE, headers=ODATA_HEADERS)


async def _table_query(
    request: Request, conn: asyncpg.Connection, form_row, form, table_name: str,
    key: str | None, scope: RowScope,
) -> tuple[Any, str, list[Any], str | None]:
    """$select, $filter and $orderby compiled (and the key's rows): (columns kept, WHERE, its
    parameters, ORDER BY)."""
    query = request.query_params
    is_root = table_name == ROOT_TABLE
    select = query.get("$select")
    try:
        where, params = compile_filter(query.get("$filter"), first_param=2, root_only=not is_root)
        order = compile_orderby(query.get("$orderby"), root_only=not is_root)
        keep = compile_select(form, table_name, select)
    except (ODataQueryError, ODataRequestError) as exc:
        raise Problem("odata-query-invalid", exc.template, params=exc.params) from exc
    if key is not None:
        if not await submissions_db.odata_cursor_exists(conn, form_row["id"], key, scope=scope):
            raise Problem("submission-not-found")
        params = [*params, key]
        where = f"({where}) AND s.instance_id = ${len(params) + 1}::text"
    return keep, where, params, order


def _masked_paths(actor: Actor, project_id: int, form: ODataForm, query) -> frozenset[str]:
    """The questions the actor reads masked; a filter or an order on one would tell its
    answers: refused."""
    masked = masked_paths(actor, project_id, form.schema)
    if masked:
        refuse_masked_fields(masked, _named_fields(query.get("$filter"), query.get("$orderby")))
    return masked


def _named_fields(*expressions: str | None) -> list[str]:
    """The field names a $filter or $orderby mentions (a text that cannot be read names none:
    compile_filter refuses it)."""
    names = []
    for expression in expressions:
        try:
            tokens = tokenize(expression or "")
        except ODataQueryError:
            continue
        names += [t.text.removeprefix(ROOT_PREFIX) for t in tokens if t.kind == "name"]
    return names


def _audit_read(conn, actor: Actor, project_id: int, xml_form_id: str, table_name: str,
                key: str | None, query):
    return audits.log_audit(
        conn,
        actor.id,
        "odata.read",
        f"form/{project_id}/{xml_form_id}",
        {
            "table": table_name,
            **({"instanceId": key} if key is not None else {}),
            **{k: v for k, v in query.items() if k.startswith("$")},
        },
    )


def _expand_all(query) -> bool:
    """$expand=* (the only one supported), which $select cannot go with."""
    expand = query.get("$expand")
    if expand not in (None, "", "*"):
        raise Problem("odata-query-invalid", N_("Only $expand=* is supported."))
    if expand == "*" and query.get("$select") not in (None, "", "*"):
        raise Problem("odata-query-invalid", N_("$select and $expand cannot be used together."))
    return expand == "*"


async def _resume_at(
    conn: asyncpg.Connection, form_row, token: str, scope: RowScope, *, is_root: bool,
    ordered: bool,
) -> tuple[str | None, str | None]:
    """Where a $skiptoken resumes: (the root table's last instanceID, the repeat's last row)."""
    data = parse_skiptoken(token)
    if not is_root:
        after_row = data.get("repeatId")
        if not isinstance(after_row, str):
            raise Problem("odata-query-invalid", N_("The $skiptoken is not for a repeat table."))
        return None, after_row
    if ordered:
        raise Problem("odata-query-invalid", N_("$orderby and $skiptoken cannot be combined."))
    cursor = data.get("instanceId")
    if not isinstance(cursor, str) or not await submissions_db.odata_cursor_exists(
        conn, form_row["id"], cursor, scope=scope
    ):
        raise Problem("odata-query-invalid", N_("The $skiptoken names no submission."))
    return cursor, None


async def _records(
    request: Request, form_id: int, where: str, params: list[Any], cursor: str | None,
    order: str | None, limit: int | None, offset: int, scope: RowScope,
) -> AsyncIterator[asyncpg.Record]:
    """Submissions on the stream's own connection (its HeldStream holds the slot), in one
    read-only snapshot."""
    async with read_snapshot(request.app.state.read_dsn) as conn:
        async for record in taking_turns(
            submissions_db.stream_submissions_for_odata(
                conn, form_id, where, params, cursor=cursor, order=order, limit=limit,
                offset=offset, scope=scope,
            )
        ):
            yield record


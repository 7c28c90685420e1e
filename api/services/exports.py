"""Exports and survey reports of a form's submissions: the use cases behind REST
(api/v1/exports.py), the research pages and `fieldsurvey export`.

Streams check first, then stream: the permission, the form, its versions, the columns and
the filters are resolved, and the export is written to the audit log, before the response
starts. The body is then produced on its own connection (a Litestar `Stream` runs after the
request's dependencies are cleaned up), reading through a server-side cursor inside a
read-only REPEATABLE READ transaction, so the export is one consistent snapshot.

A new export format is a writer in exports/ and one line in EXPORT_FORMATS: REST, the pages
and the CLI read that table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from api.auth import Actor, authorize
from api.form_cache import version_schema_of
from api.i18n import N_, I18n, known_locale
from api.problems import Problem
from api.scopes import row_scope
from api.services.forms import form_or_404
from api.services.publications import latest_publication
from api.services.sensitive import (
    masked_paths,
    masked_records,
    refuse_masked_fields,
    shown_sensitive,
)
from api.services.summaries import publication_json
from api.settings import Settings
from api.storage import AttachmentStore
from db import audits
from db import forms as forms_db
from db import publications as publications_db
from db.pool import read_snapshot
from db.scopes import UNSCOPED, RowScope
from db.submissions import stream_attachments_for_export, stream_submissions_for_export
from exports.csv import SubmissionFile, stream_csv_zip
from exports.excel_csv import stream_excel_csv_zip
from exports.layout import (
    ExportLayout,
    ExportOptionError,
    ExportOptions,
    MergedForm,
    OptionError,
    build_layout,
    merge_versions,
    resolve_language,
)
from exports.reports import (
    PERIOD_ONE_OF,
    ReportOptionError,
    ReportSpec,
    build_report,
    plan_report,
)
from exports.spreadsheet import MAX_COLUMNS
from exports.streaming import HeldStream, prefetched, taking_turns
from exports.xlsx import stream_xlsx
from forms.screening import RISK_SCREENING_FORM_ID
from forms.vocabulary import (
    COUNTED_REVIEW_STATES,
    PERIODS,
    REVIEW_STATES,
    parse_moment_range,
    parse_month_range,
    whole_period,
)

log = logging.getLogger("fieldsurvey")


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class SubmissionFilter:
    since: datetime | None = None
    until: datetime | None = None
    review_states: tuple[str, ...] | None = None
    versions: tuple[str, ...] | None = None
    scope: RowScope = UNSCOPED  # the reader's rows (api/scopes.py): exports hold no others

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "review_states": self.review_states,
            "versions": self.versions,
            "scope": self.scope,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "reviewStates": list(self.review_states) if self.review_states else None,
            "versions": list(self.versions) if self.versions else None,
        }


@dataclass(frozen=True)
class ExportTarget:
    """What an export or report reads: resolved before the first byte."""

    project_id: int
    xml_form_id: str
    form_id: int
    merged: MergedForm
    filter: SubmissionFilter = field(default_factory=SubmissionFilter)
    masked: frozenset[str] = frozenset()  # the reader sees `[masked]` there (sensitive fields)


def _split(values: list[str] | str | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    items = tuple(v.strip() for value in values for v in value.split(",") if v.strip())
    return items or None


def parse_filter(
    since: str | None,
    until: str | None,
    review_state: list[str] | None,
    version: list[str] | None,
    *,
    default_review_states: tuple[str, ...] | None = None,
    scope: RowScope,
) -> SubmissionFilter:
    states = _split(review_state)
    if states is not None:
        unknown = [s for s in states if s not in REVIEW_STATES]
        if unknown:
            raise Problem(
                "export-option-invalid",
                N_("Unknown reviewState %(names)s; use %(values)s."),
                params={"names": ", ".join(unknown), "values": ", ".join(REVIEW_STATES)},
            )
    else:
        states = default_review_states
    try:  # an end date is included whole (forms/vocabulary.py)
        start, stop = parse_moment_range(since, until, ("since", "until"))
    except OptionError as exc:
        raise Problem("export-option-invalid", exc.template, params=exc.params) from exc
    return SubmissionFilter(since=start, until=stop, review_states=states, versions=_split(version),
                            scope=scope)


async def resolve_target(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, submission_filter: SubmissionFilter
) -> ExportTarget:
    form = await form_or_404(conn, project_id, xml_form_id, published=True)
    defs = await forms_db.list_published_defs(conn, form["id"])
    if submission_filter.versions:
        known = {d["version"] for d in defs}
        unknown = [v for v in submission_filter.versions if v not in known]
        if unknown:
            raise Problem(
                "form-version-not-found", N_("No published version %(names)s."),
                params={"names": ", ".join(map(repr, unknown))},
            )
    merged = merge_versions([version_schema_of(d["id"], d["xform"]) for d in defs])
    return ExportTarget(project_id, xml_form_id, form["id"], merged, submission_filter)


def export_layout(
    target: ExportTarget,
    *,
    fields: str | None,
    group_paths: bool,
    split_select_multiples: bool,
    spreadsheet: bool,
) -> ExportLayout:
    try:
        layout = build_layout(
            target.merged,
            ExportOptions(
                group_paths=group_paths,
                split_select_multiples=split_select_multiples,
                include_notes=not spreadsheet,
                screening=target.xml_form_id == RISK_SCREENING_FORM_ID,
                fields=_split(fields),
                sheet_links=spreadsheet,
                datetime_offsets=spreadsheet,
            ),
        )
    except ExportOptionError as exc:
        raise option_problem(exc) from exc
    if spreadsheet:
        widest = max(len(t.columns) for t in layout.tables)
        if widest > MAX_COLUMNS:
            raise Problem(
                "export-too-wide",
                N_("A sheet would have %(n)s columns; Excel allows %(limit)s. Choose fewer "
                   "with ?fields=."),
                params={"n": widest, "limit": MAX_COLUMNS},
            )
    return layout


def export_language(target: ExportTarget, lang: str | None) -> str | None:
    try:
        return resolve_language(target.merged.schema, lang)
    except ExportOptionError as exc:
        raise option_problem(exc) from exc


def label_locale(language: str | None) -> str | None:
    """The locale of our catalogues that a form's label language is ("Russian (ru)" -> "ru",
    "English (en)" -> "en"), for the words an export adds; None when there is none."""
    if not language:
        return None
    code = language.rpartition("(")[2].rstrip(")") if language.endswith(")") else language
    return known_locale(code)


def option_problem(exc: OptionError) -> Problem:
    """An export or report option the form cannot serve, in the reader's language."""
    return Problem("export-option-invalid", exc.template, params=exc.params)


async def stream_records_into(
    dsn: str,
    target: ExportTarget,
    write: Callable[..., AsyncIterator[bytes]],
    *,
    prefetch: int = 1000,
    newest_first: bool = False,
    store: AttachmentStore | None = None,
) -> AsyncIterator[bytes]:
    """The export body: its own connection, a read-only snapshot, a server-side cursor. The
    connection, the snapshot and the first rows of each cursor are taken before the first
    chunk (HeldStream.start takes that chunk before the response starts). With `store`,
    `write` is called as write(records, files): the uploaded files, read on the same
    snapshot after the records."""
    async with read_snapshot(dsn) as conn:
        records = await prefetched(taking_turns(
            stream_submissions_for_export(
                conn, target.form_id, prefetch=prefetch, newest_first=newest_first,
                **target.filter.as_kwargs(),
            )
        ))
        # the files of masked fields, met while the records are written (before the files)
        masked_files: set[tuple[str, str]] = set()
        if target.masked:
            records = masked_records(records, target.masked, masked_files,
                                     target.merged.schema.binary_paths)
        if store is None:
            body = write(records)
        else:
            files = await prefetched(stream_attachments_for_export(
                conn, target.form_id, **target.filter.as_kwargs()
            ))
            body = write(records, _export_files(files, target, store, masked_files))
        async for chunk in body:
            if chunk:
                yield chunk


async def _export_files(
    rows: AsyncIterator[asyncpg.Record], target: ExportTarget, store: AttachmentStore,
    masked_files: set[tuple[str, str]],
) -> AsyncIterator[SubmissionFile]:
    """The uploaded files, read after every record was written (the writers put media/ last),
    so `masked_files` is whole: those are left out."""
    async for row in taking_turns(rows):
        if (row["instance_id"], row["name"]) in masked_files:
            continue
        try:
            content = await store.get(row["blob_key"])
        except FileNotFoundError:
            log.error("export of %s: file %s of %s is missing from the store",
                      target.xml_form_id, row["name"], row["instance_id"])
            continue
        yield SubmissionFile(row["instance_id"], row["name"], content, row["client_audit"])


async def audit_export(
    conn, actor_id: int | None, action: str, target: ExportTarget, details: dict
) -> None:
    """The export or report in the audit log, with its filters."""
    await audits.log_audit(
        conn,
        actor_id,
        action,
        f"form/{target.project_id}/{target.xml_form_id}",
        {**details, "filters": target.filter.describe()},
    )

# ---------------------------------------------------------------------------------------------
# Exports of submissions: one table of formats, one entry point


@dataclass(frozen=True)
class ExportRequest:
    """What a reader asked for (REST's query, the export page's form, the CLI's options)."""

    since: str | None = None
    until: str | None = None
    review_state: list[str] | None = None
    version: list[str] | None = None
    fields: str | None = None
    group_paths: bool = True
    split_select_multiples: bool = False  # (always in a workbook)
    attachments: bool = False  # the files under media/ (CSV zip)
    escape_formulas: bool = True  # (CSV)
    lang: str | None = None  # labels' language (workbook)
    choices: str = "value"  # "value" or "label" (workbook)


@dataclass(frozen=True)
class PreparedExport:
    """An export resolved before its first byte: what it reads and how it writes."""

    format: str
    target: ExportTarget
    write: Callable[..., AsyncIterator[bytes]]  # write(records[, files]) -> chunks
    newest_first: bool
    with_files: bool
    details: dict  # for the audit log
    media_type: str
    file_name: str
    layout: ExportLayout | None = None


def sensitive_details(
    actor: Actor, project_id: int, prepared: PreparedExport, target: ExportTarget
) -> dict:
    """The audit log's word on an export's sensitive columns: `sensitive` is "shown" when it
    holds some unmasked (unusual reading lists those), "masked" when they were masked."""
    layout = prepared.layout
    paths = {c.field.path for t in layout.tables for c in t.columns
             if c.field is not None} if layout is not None else set()
    marked = paths & target.merged.schema.sensitive_paths
    if not marked:
        return {}
    if target.masked:
        return {"sensitive": "masked"}
    return {"sensitive": "shown"} if shown_sensitive(
        actor, project_id, target.merged.schema) else {}


def _prepare_csv_zip(target: ExportTarget, asked: ExportRequest) -> PreparedExport:
    layout = export_layout(
        target, fields=asked.fields, group_paths=asked.group_paths,
        split_select_multiples=asked.split_select_multiples, spreadsheet=False,
    )

    def write(records, files=None):
        return stream_csv_zip(records, layout, files=files, escape_formulas=asked.escape_formulas,
                              masked=target.masked)

    name = target.xml_form_id + (".zip" if asked.attachments else ".csv.zip")
    details = {"format": "csv.zip", "attachments": asked.attachments,
               "escapeFormulas": asked.escape_formulas}
    # as Central: newest submission first
    return PreparedExport("csv.zip", target, write, True, asked.attachments, details,
                          "application/zip", name, layout)


def _prepare_xlsx(target: ExportTarget, asked: ExportRequest) -> PreparedExport:
    language = export_language(target, asked.lang)
    layout = export_layout(target, fields=asked.fields, group_paths=asked.group_paths,
                           split_select_multiples=True, spreadsheet=True)
    locale = label_locale(language)
    translate = I18n.for_locale(locale).gettext if locale else None
    return PreparedExport("xlsx", target, lambda records: stream_xlsx(
        records, layout, language=language, header_labels=language is not None,
        choice_labels=asked.choices == "label", masked=target.masked, translate=translate,
    ), False, False, {"format": "xlsx", "lang": language}, XLSX_MEDIA_TYPE,
        f"{target.xml_form_id}.xlsx", layout)


def _prepare_excel_csv_zip(target: ExportTarget, asked: ExportRequest) -> PreparedExport:
    language = export_language(target, asked.lang)
    layout = export_layout(target, fields=asked.fields, group_paths=asked.group_paths,
                           split_select_multiples=asked.split_select_multiples, spreadsheet=False)
    locale = label_locale(language or target.merged.schema.default_language)
    translate = I18n.for_locale(locale).gettext if locale else None
    details = {"format": "excel.csv.zip", "lang": language, "choices": asked.choices,
               "escapeFormulas": asked.escape_formulas}
    return PreparedExport("excel.csv.zip", target, lambda records: stream_excel_csv_zip(
        records, layout, language=language, choice_labels=asked.choices == "label",
        translate=translate, escape_formulas=asked.escape_formulas,
    ), True, False, details, "application/zip", f"{target.xml_form_id}-excel.csv.zip", layout)


# format -> how its export is prepared (a writer of exports/ behind it)
EXPORT_FORMATS: dict[str, Callable[[ExportTarget, ExportRequest], PreparedExport]] = {
    "xlsx": _prepare_xlsx,
    "csv.zip": _prepare_csv_zip,  # ODK Central's layout: names and values as submitted
    "excel.csv.zip": _prepare_excel_csv_zip,  # for Excel: UTF-8 with BOM, labels
}
LABELLED_FORMATS = ("xlsx", "excel.csv.zip")  # those with `lang` and `choices`


async def prepare_export(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, export_format: str,
    asked: ExportRequest, *, scope: RowScope, reader: Actor | None = None,
) -> PreparedExport:
    """Resolve the form, its versions, the filter and the columns; refuse what cannot be
    served. Reads only; the caller has checked the permission and gives the reader's row
    scope. With `reader`, the sensitive fields it may not read are masked (the CLI, run by the
    server's operator, gives none)."""
    if export_format in LABELLED_FORMATS and asked.choices not in ("value", "label"):
        raise Problem("export-option-invalid", N_("choices must be value or label."))
    submission_filter = parse_filter(asked.since, asked.until, asked.review_state, asked.version,
                                     scope=scope)
    target = await resolve_target(conn, project_id, xml_form_id, submission_filter)
    if reader is not None:
        target = dataclasses.replace(
            target, masked=masked_paths(reader, project_id, target.merged.schema)
        )
    return EXPORT_FORMATS[export_format](target, asked)


@dataclass(frozen=True)
class StartedExport:
    body: HeldStream
    media_type: str
    file_name: str


async def start_export(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, xml_form_id: str,
    export_format: str, asked: ExportRequest, *, dsn: str, slots: asyncio.Semaphore,
    store: AttachmentStore,
) -> StartedExport:
    """An export as a surface serves it: may the actor export (checked here, once), the
    export resolved, its first chunk taken (HeldStream) and the export in the audit log,
    all before the response starts."""
    actor = authorize(actor, "export", project_id)
    prepared = await prepare_export(conn, project_id, xml_form_id, export_format, asked,
                                    scope=row_scope(actor, project_id), reader=actor)
    target = prepared.target
    body = await HeldStream.start(slots, lambda: stream_records_into(
        dsn, target, prepared.write, newest_first=prepared.newest_first,
        store=store if prepared.with_files else None,
    ))
    details = {**prepared.details, **sensitive_details(actor, project_id, prepared, target)}
    await body.then(audit_export(conn, actor.id, "submission.export", target, details))
    return StartedExport(body, prepared.media_type, prepared.file_name)


# ---------------------------------------------------------------------------------------------
# Survey reports


@dataclass(frozen=True)
class ReportOptions:
    since: str | None
    until: str | None
    review_state: list[str] | None
    version: list[str] | None
    by: str | None
    period: str | None
    lang: str | None


def _published_period(
    since: str | None, until: str | None, review_state: list[str] | None, version: list[str] | None
) -> tuple[int, int]:
    """Under disclosure control a report counts the current publication's screenings of all
    versions and the default review states, over everything or one whole month, quarter or
    year (since=YYYY-MM, until=YYYY-MM, inclusive): finer ranges, or a version or a review
    state, would let two reports be subtracted to reveal one person's answers."""
    if review_state or version:
        raise Problem(
            "export-option-invalid",
            N_("Under disclosure control a report covers every version and review state."),
        )
    try:  # whole months: YYYY-MM, or the first or last day of one (forms/vocabulary.py)
        bounds = parse_month_range(since, until, ("since", "until"))
    except OptionError as exc:
        raise Problem("export-option-invalid", exc.template, params=exc.params) from exc
    if not whole_period(bounds[0], bounds[1]):
        raise Problem(
            "export-option-invalid",
            N_("Under disclosure control a report covers everything or one whole month, quarter "
               "or year (since and until of the same month, quarter or year)."),
        )
    return bounds[0], bounds[1]


async def form_report(
    conn: asyncpg.Connection,
    actor: Actor | None,
    settings: Settings,
    project_id: int,
    xml_form_id: str,
    options: ReportOptions,
    *,
    output: str,
):
    """A per-question report (output: "json" or "xlsx", for the audit log). A role without
    microdata gets the one of the current publication, under disclosure control."""
    actor = authorize(actor, "summary.read", project_id)
    since, until, by, period = options.since, options.until, options.by, options.period
    if period is not None and period not in PERIODS:
        raise Problem("export-option-invalid", PERIOD_ONE_OF, params={"values": ", ".join(PERIODS)})
    if not actor.sees_microdata(project_id):
        return await _published_report(conn, settings, project_id, xml_form_id, options)
    # rejected submissions are left out unless asked for
    submission_filter = parse_filter(
        since,
        until,
        options.review_state,
        options.version,
        default_review_states=COUNTED_REVIEW_STATES,
        scope=row_scope(actor, project_id),
    )
    target = await resolve_target(conn, project_id, xml_form_id, submission_filter)
    masked = masked_paths(actor, project_id, target.merged.schema)
    if by is not None:  # a breakdown by a masked question would tell its answers
        refuse_masked_fields(masked, [by])
    language = export_language(target, options.lang)
    restricted = False  # roles without microdata had theirs from the publication above
    k = settings.disclosure_k
    try:
        plan = plan_report(
            target.merged,
            ReportSpec(by=by, period=period, language=language, restricted=restricted, k=k,
                       masked=masked),
        )
    except ReportOptionError as exc:
        raise option_problem(exc) from exc
    await audit_export(
        conn,
        actor.id,
        "submission.report",
        target,
        {"format": output, "by": by, "period": period, "disclosureControl": restricted},
    )
    # a report is small: it is read on the request's connection, then answered whole
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        records = taking_turns(
            stream_submissions_for_export(
                conn, target.form_id, prefetch=1000, **target.filter.as_kwargs()
            )
        )
        report = await build_report(
            masked_records(records, masked) if masked else records, plan
        )
    report["filters"] = target.filter.describe()
    return report


async def _published_report(
    conn: asyncpg.Connection, settings: Settings, project_id: int, xml_form_id: str,
    options: ReportOptions,
):
    """A report for a role without microdata: the screenings of the current publication,
    every count published by the one engine (the same numbers as the summaries)."""
    month_from, month_to = _published_period(options.since, options.until, options.review_state, options.version)
    target = await resolve_target(conn, project_id, xml_form_id, SubmissionFilter())
    if xml_form_id != RISK_SCREENING_FORM_ID:
        raise Problem(
            "forbidden",
            N_("Roles without microdata see reports of the risk screening only: its publication "
               "is the one population their counts come from."),
        )
    language = export_language(target, options.lang)
    k = settings.disclosure_k
    try:
        plan = plan_report(
            target.merged,
            ReportSpec(by=options.by, period=options.period, language=language, restricted=True, k=k),
        )
    except ReportOptionError as exc:
        raise option_problem(exc) from exc
    publication = await latest_publication(conn, project_id, settings)
    if month_from and month_from > publication.through_month:
        raise Problem(
            "export-option-invalid",
            N_("The current publication covers interviews through %(month)s."),
            params={"month": publication.label},
        )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        report = await build_report(
            taking_turns(
                publications_db.stream_members(conn, publication.id, target.form_id, month_from, month_to)
            ),
            plan,
        )
    report["filters"] = {"since": options.since, "until": options.until, "reviewStates": None, "versions": None}
    report["publication"] = publication_json(publication)
    return report

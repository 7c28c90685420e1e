"""The shape of an export: every published version's field tree merged into one, and the
tables (the root, then one per repeat) with their columns, named as ODK Central names them.

Pure: `FormSchema`s and options in, frozen values out, or `ExportOptionError` with a `kind`.

Central's conventions (getodk/central-backend, lib/data/briefcase.js), kept here:
- the root table starts with `SubmissionDate` and ends with `KEY, SubmitterID, SubmitterName,
  AttachmentsPresent, AttachmentsExpected, Status, ReviewState, DeviceID, Edits, FormVersion`;
- a repeat table ends with `PARENT_KEY, KEY`;
- a column is named by the field's path relative to its table, `/` replaced by `-`, or by
  the field's name alone when `group_paths` is off;
- a geopoint gives four columns `<name>-Latitude, -Longitude, -Altitude, -Accuracy`;
- a split select_multiple gives `<name>` and one `<name>/<choice>` column per choice.

Versions: the columns are the union of all published versions' fields, in the newest
version's order; a field only older versions had is placed after the field that preceded
it there (or first in its group). Choices likewise: the newest version's, then older ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from forms.messages import N_, OptionError  # noqa: F401 - OptionError: exports.layout's too
from forms.schema import DEFAULT_LABEL_KEY, Choice, Field, FormSchema

ROOT_SYSTEM_COLUMNS = (
    "KEY",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
)
REPEAT_SYSTEM_COLUMNS = ("PARENT_KEY", "KEY")
GEOPOINT_PARTS = ("Latitude", "Longitude", "Altitude", "Accuracy")

# The rubric's result for risk_screening: (column, screenings column, type, description).
SCREENING_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("RubricVersion", "rubric_version", "string", "Version of the risk rubric applied"),
    ("VulnerabilityScore", "vulnerability_score", "int", "Vulnerability score V (part A)"),
    ("VulnerabilityLevel", "vulnerability_level", "string", "low, medium or high (from V)"),
    ("ExploitationStatus", "exploitation_status", "string", "Result of the exploitation screen"),
    ("Urgent", "urgent", "boolean", "Needs urgent referral"),
    ("RiskLevel", "risk_level", "string", "Overall risk level: low, medium or high"),
    ("RiskGroups", "risk_groups", "list", "Risk-group tags, space-separated"),
    ("ControlForms", "control_forms", "list", "Forms of control indicated, space-separated"),
    ("ExploitationTypes", "exploitation_types", "list", "Types of exploitation, space-separated"),
    ("NeedsReview", "needs_review", "boolean", "A person should review the classification"),
)

_ROOT_SYSTEM_TYPES = {
    "SubmissionDate": "submission_date",
    "SubmitterID": "int",
    "AttachmentsPresent": "int",
    "AttachmentsExpected": "int",
    "Edits": "int",
}


class ExportOptionError(OptionError):
    """An export option names something the form does not have. `kind`: field-unknown,
    language-unknown, too-wide."""

    def __init__(self, kind: str, template: str, params: dict[str, Any] | None = None):
        self.kind = kind
        super().__init__(template, params)


@dataclass(frozen=True)
class MergedForm:
    """The union of a form's published versions, newest version's order first."""

    schema: FormSchema
    versions: tuple[str, ...]  # oldest first
    field_versions: dict[str, tuple[str, ...]]  # path -> versions that have it


def _merge_choices(new: tuple[Choice, ...], old: tuple[Choice, ...]) -> tuple[Choice, ...]:
    names = {c.name for c in new}
    return new + tuple(c for c in old if c.name not in names)


def _marked_sensitive(f: Field) -> Field:
    return replace(f, sensitive=True, children=tuple(_marked_sensitive(c) for c in f.children))


def _merge_fields(new: tuple[Field, ...], old: tuple[Field, ...]) -> tuple[Field, ...]:
    merged = list(new)
    position = {f.name: i for i, f in enumerate(merged)}
    insert_at = 0
    for old_field in old:
        at = position.get(old_field.name)
        if at is None:
            merged.insert(insert_at, old_field)
            position = {f.name: i for i, f in enumerate(merged)}
            insert_at += 1
            continue
        current = merged[at]
        if current.type == "structure" and old_field.type == "structure":
            merged[at] = replace(
                current, children=_merge_fields(current.children, old_field.children)
            )
        elif current.choices or old_field.choices:
            merged[at] = replace(
                current, choices=_merge_choices(current.choices, old_field.choices)
            )
        if old_field.sensitive and not merged[at].sensitive:
            # marked in any version: masked in every version's answers
            merged[at] = _marked_sensitive(merged[at])
        insert_at = at + 1
    return tuple(merged)


def merge_versions(schemas: Sequence[FormSchema]) -> MergedForm:
    """Merge published versions, given oldest first (the order they were published)."""
    if not schemas:
        raise ValueError("no published version to export")
    newest = schemas[-1]
    fields = newest.fields
    for older in reversed(schemas[:-1]):
        fields = _merge_fields(fields, older.fields)
    field_versions: dict[str, list[str]] = {}
    for schema in schemas:
        for f in schema.walk():
            field_versions.setdefault(f.path, []).append(schema.version)
    languages = list(newest.languages)
    for schema in schemas:
        languages += [lang for lang in schema.languages if lang not in languages]
    return MergedForm(
        schema=replace(newest, fields=fields, languages=tuple(languages)),
        versions=tuple(s.version for s in schemas),
        field_versions={p: tuple(v) for p, v in field_versions.items()},
    )


@dataclass(frozen=True)
class Column:
    """One column. `source` says where its values come from:
    "field" (the answer), "geo" (part `part` of a geopoint), "choice" (0/1 for `choice`),
    "system" (a submission attribute named `name`), "screening" (screenings column `part`),
    "offset" (the UTC offset of the dateTime `field`, spreadsheets only),
    "key"/"parent_key" (Central keys), "index"/"parent_index"/"parent_table"/"submission_key"
    (the spreadsheet's links between sheets)."""

    name: str
    source: str
    type: str
    field: Field | None = None
    part: str | int | None = None
    choice: Choice | None = None


@dataclass(frozen=True)
class Table:
    name: str  # the form id for the root, the repeat's name for a repeat
    path: str  # "" for the root
    field: Field | None
    parent: int | None
    depth: int
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ExportOptions:
    group_paths: bool = True
    split_select_multiples: bool = False
    include_notes: bool = True
    screening: bool = False
    fields: tuple[str, ...] | None = None  # paths; a group or repeat path selects all below
    sheet_links: bool = False  # _index / _parent_index / _parent_table_name / _submission_key
    # a text column "<column> (UTC offset)" after each dateTime column (spreadsheets: Excel
    # dates have no time zone, so the offset the phone recorded is kept beside the local time)
    datetime_offsets: bool = False


@dataclass(frozen=True)
class ExportLayout:
    form_id: str
    merged: MergedForm
    options: ExportOptions
    tables: tuple[Table, ...]
    table_of_repeat: dict[str, int] = field(default_factory=dict)

    @property
    def schema(self) -> FormSchema:
        return self.merged.schema


def _selected(path: str, fields: tuple[str, ...] | None) -> bool:
    if fields is None:
        return True
    return any(path == f or path.startswith(f + "/") for f in fields)


def _has_selected_below(path: str, fields: tuple[str, ...] | None) -> bool:
    if fields is None:
        return True
    return any(f == path or f.startswith(path + "/") or path.startswith(f + "/") for f in fields)


def offset_column_name(base: str) -> str:
    """XLSForm names have no spaces, so this cannot collide with a field's column."""
    return f"{base} (UTC offset)"


def _field_columns(f: Field, base: str, options: ExportOptions) -> list[Column]:
    if f.type == "geopoint":
        return [Column(f"{base}-{p}", "geo", "decimal", f, i) for i, p in enumerate(GEOPOINT_PARTS)]
    columns = [Column(base, "field", f.type, f)]
    if f.type == "dateTime" and options.datetime_offsets:
        columns.append(Column(offset_column_name(base), "offset", "string", f))
    if f.type == "select_multiple" and options.split_select_multiples:
        columns += [Column(f"{base}/{c.name}", "choice", "int", f, None, c) for c in f.choices]
    return columns


def build_layout(merged: MergedForm, options: ExportOptions = ExportOptions()) -> ExportLayout:
    schema = merged.schema
    if options.fields is not None:
        known = {f.path for f in schema.walk()}
        unknown = [p for p in options.fields if p not in known]
        if unknown:
            raise ExportOptionError(
                "field-unknown", N_("The form has no field %(names)s."),
                {"names": ", ".join(map(repr, unknown))},
            )
    tables: list[Table] = []
    table_of_repeat: dict[str, int] = {}

    def visit(children: Iterable[Field], table_path: str, columns: list[Column], index: int):
        for f in children:
            if not _has_selected_below(f.path, options.fields):
                continue
            if f.kind == "repeat":
                add_table(f, index)
            elif f.type == "structure":
                visit(f.children, table_path, columns, index)
            elif f.type == "note" and not options.include_notes:
                continue
            elif _selected(f.path, options.fields):
                relative = f.path[len(table_path) + 1 :] if table_path else f.path
                base = relative.replace("/", "-") if options.group_paths else f.name
                columns.extend(_field_columns(f, base, options))

    def add_table(repeat: Field | None, parent: int | None):
        index = len(tables)
        tables.append(None)  # type: ignore[arg-type]  # placeholder keeps depth-first order
        columns: list[Column] = []
        if repeat is None:
            columns.append(Column("SubmissionDate", "system", "submission_date"))
            visit(schema.fields, "", columns, index)
            if options.screening:
                columns += [Column(n, "screening", t, None, c) for n, c, t, _ in SCREENING_COLUMNS]
            columns += [
                Column(n, "key" if n == "KEY" else "system", _ROOT_SYSTEM_TYPES.get(n, "string"))
                for n in ROOT_SYSTEM_COLUMNS
            ]
            if options.sheet_links:
                columns.append(Column("_index", "index", "int"))
            depth = 0
        else:
            table_of_repeat[repeat.path] = index
            visit(repeat.children, repeat.path, columns, index)
            columns += [
                Column("PARENT_KEY", "parent_key", "string"),
                Column("KEY", "key", "string"),
            ]
            if options.sheet_links:
                columns += [
                    Column("_index", "index", "int"),
                    Column("_parent_index", "parent_index", "int"),
                    Column("_parent_table_name", "parent_table", "string"),
                    Column("_submission_key", "submission_key", "string"),
                ]
            depth = tables[parent].depth + 1 if parent is not None and tables[parent] else 1
        tables[index] = Table(
            name=repeat.name if repeat is not None else schema.xml_form_id,
            path=repeat.path if repeat is not None else "",
            field=repeat,
            parent=parent,
            depth=depth,
            columns=tuple(columns),
        )

    add_table(None, None)
    return ExportLayout(
        form_id=schema.xml_form_id,
        merged=merged,
        options=options,
        tables=tuple(tables),
        table_of_repeat=table_of_repeat,
    )


def resolve_language(schema: FormSchema, lang: str | None) -> str | None:
    """A language given as its full name ("English (en)") or its code ("en")."""
    if lang is None:
        return None
    if lang in schema.languages:
        return lang
    for candidate in schema.languages:
        if candidate.endswith(f"({lang})") or candidate.lower() == lang.lower():
            return candidate
    if not schema.languages and lang == DEFAULT_LABEL_KEY:
        return lang
    raise ExportOptionError(
        "language-unknown",
        N_("The form has no language %(name)s; it has %(languages)s.") if schema.languages
        else N_("The form has no language %(name)s; it has none."),
        {"name": repr(lang), "languages": ", ".join(schema.languages)},
    )


def label_in(labels: dict[str, str], language: str | None, default: str | None) -> str | None:
    """A label in `language`, else in the form's default language, else any."""
    for key in (language, default, DEFAULT_LABEL_KEY):
        if key is not None and labels.get(key):
            return labels[key]
    return next((v for v in labels.values() if v), None)

"""The codebook: one row per field of the merged form (groups and repeats included, in form
order), each followed by its choices; then the columns the server adds. Pure.

Columns: path, column (its name in the CSV/XLSX export, blank when it has none; all of them
for a geopoint's parts or a dateTime and its offset; for a choice, its 0/1 column when a
select_multiple is split), kind, type (for the server's columns, the type the sheet stores:
dateTime, int, string...), value (a choice's name), one `label::<language>` per language, hint in the default language,
relevant, constraint, required, calculation, choice_filter, versions (the published versions
that have the field); when the form marks questions that identify a person, `sensitive`:
"masked" where this export shows `[masked]` (the reader may not read them), "yes" where it
shows the answers.
"""

from __future__ import annotations

from exports.layout import SCREENING_COLUMNS, ExportLayout
from forms.schema import DEFAULT_LABEL_KEY

SYSTEM_DESCRIPTIONS = {
    "SubmissionDate": "When the server received the submission (UTC)",
    "KEY": "The submission's instanceID; for a repeat row, its parent's KEY and /repeat[n]",
    "PARENT_KEY": "KEY of the row this repeat row belongs to",
    "SubmitterID": "Id of the web user or app user who sent the submission",
    "SubmitterName": "Display name of the submitter",
    "AttachmentsPresent": "Number of attached files received",
    "AttachmentsExpected": "Number of attached files the submission names",
    "Status": "Encryption status (blank: not encrypted)",
    "ReviewState": "Review state; blank means received",
    "DeviceID": "Device that sent the submission",
    "Edits": "Number of edits since the first version",
    "FormVersion": "Form version the submission was filled in with",
    "_index": "Row number in this sheet",
    "_parent_index": "_index of the parent row in the parent sheet",
    "_parent_table_name": "Sheet of the parent row",
    "_submission_key": "KEY of the submission the row belongs to",
}


# layout column types -> the type of the values the sheets hold
SHEET_TYPES = {"submission_date": "dateTime", "list": "string"}


def codebook_header(layout: ExportLayout) -> list[str]:
    languages = list(layout.schema.languages) or [DEFAULT_LABEL_KEY]
    sensitive = ["sensitive"] if layout.schema.sensitive_paths else []
    return [
        "path",
        "column",
        "kind",
        "type",
        "value",
        *[f"label::{lang}" for lang in languages],
        "hint",
        "relevant",
        "constraint",
        "required",
        "calculation",
        "choice_filter",
        "versions",
        *sensitive,
    ]


def _sensitive_cell(path: str, sensitive: frozenset[str], masked: frozenset[str]) -> str | None:
    if path in masked:
        return "masked"
    return "yes" if path in sensitive else None


def codebook_rows(
    layout: ExportLayout, masked: frozenset[str] = frozenset()
) -> list[list[str | None]]:
    schema = layout.schema
    sensitive = schema.sensitive_paths
    tail = 1 if sensitive else 0  # the `sensitive` column
    languages = list(schema.languages) or [DEFAULT_LABEL_KEY]
    default = schema.default_language or DEFAULT_LABEL_KEY
    columns_of: dict[str, list[str]] = {}
    choice_columns: dict[tuple[str, str], str] = {}
    for table in layout.tables:
        for column in table.columns:
            if column.field is not None and column.source in ("field", "geo", "offset"):
                columns_of.setdefault(column.field.path, []).append(column.name)
            elif column.source == "choice":
                choice_columns[(column.field.path, column.choice.name)] = column.name
    rows: list[list[str | None]] = []
    blank_labels = [None] * len(languages)
    for f in schema.walk():
        names = columns_of.get(f.path, [])
        # a geopoint's parts, a dateTime and its offset column: all of them
        column = ", ".join(names) if names else None
        rows.append(
            [
                f.path,
                column,
                f.kind,
                f.type,
                None,
                *[f.labels.get(lang) for lang in languages],
                f.hints.get(default) or next(iter(f.hints.values()), None),
                f.relevant,
                f.constraint,
                "yes" if f.required else None,
                f.calculate,
                f.choice_filter,
                " ".join(layout.merged.field_versions.get(f.path, ())),
                *([_sensitive_cell(f.path, sensitive, masked)] if tail else []),
            ]
        )
        for choice in f.choices:
            rows.append(
                [
                    f.path,
                    choice_columns.get((f.path, choice.name)),  # its 0/1 column when split
                    "choice",
                    None,
                    choice.name,
                    *[choice.labels.get(lang) for lang in languages],
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    *[None] * tail,
                ]
            )
    # the columns the server adds, once each, typed as the sheets store them
    screening_text = {name: text for name, _, _, text in SCREENING_COLUMNS}
    extra: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for table in layout.tables:
        for c in table.columns:
            if c.field is not None or c.name in seen:
                continue
            seen.add(c.name)
            text = screening_text.get(c.name, "") if c.source == "screening" else ""
            extra.append((c.name, SHEET_TYPES.get(c.type, c.type), text))
    for name, kind, text in extra:
        description = text or SYSTEM_DESCRIPTIONS.get(name)
        rows.append(
            [
                None,
                name,
                "classification" if text else "system",
                kind or "string",
                None,
                description,
                *blank_labels[1:],
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                *[None] * tail,
            ]
        )
    return rows

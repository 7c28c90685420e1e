"""Submissions -> an .xlsx workbook, streamed: a sheet per table (the root first, then one
per repeat, linked by `_index`/`_parent_index`, `KEY`/`PARENT_KEY` and `_submission_key`),
then a `codebook` sheet.

- Headers are the columns' names, or with `header_labels` the fields' labels in `language`
  (the form's default language when None); a geopoint's parts and a select_multiple's
  choices add ` (Latitude)` ... or `/<choice label>`.
- Choices are written as values, or with `choice_labels` as labels (a select_multiple's
  labels joined by "; ").
- A select_multiple has its value column and one 0/1 column per choice; the 0/1 columns
  stay empty when the question was not answered.
- Numbers (int, decimal, range, geopoint parts) are Excel numbers; date, dateTime and time
  are Excel dates in the time of day the phone recorded; SubmissionDate is in UTC. A value
  that does not parse stays text. Excel dates have no time zone, so each dateTime column is
  followed by `<column> (UTC offset)`: the offset the phone recorded, as text (`+05:00`;
  blank when the value had none). Local time and offset together give the instant.
- Notes have no column (they hold no data); the codebook lists them.
- With `translate` (the catalogue of the label language's locale, given with labels): the
  headers of the system, link and classification columns, the words a geopoint's parts and an
  offset column add, and unlabelled metadata (start, end, deviceid...) are in that language
  too; with `choice_labels` also the classification's values (review state, risk level,
  urgent yes/no, risk groups...). The codebook keeps the codes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from exports.codebook import codebook_header, codebook_rows
from exports.flatten import RowBuilder
from exports.layout import GEOPOINT_PARTS, Column, ExportLayout, label_in
from exports.spreadsheet import StreamingWorkbook
from forms.messages import N_
from forms.vocabulary import (
    CONTROL_FORMS,
    EXPLOITATION_STATUS,
    EXPLOITATION_TYPES,
    METADATA_NAMES,
    REVIEW_STATE_LABELS,
    RISK_GROUPS,
    RISK_LEVEL_LABELS,
)

FLUSH_BYTES = 1 << 16
CODEBOOK_SHEET = "codebook"
_INT = re.compile(r"\s*[-+]?\d{1,15}\s*")


def _to_int(text: str) -> Any:
    if _INT.fullmatch(text):
        return int(text)
    return _to_number(text)


def _to_number(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    if number.is_integer() and abs(number) < 2**53 and "." not in text and "e" not in text.lower():
        return int(number)
    return number


def _to_date(text: str) -> Any:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return text


def _to_datetime(text: str) -> Any:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        return text


def _to_time(text: str) -> Any:
    try:
        return time.fromisoformat(text.strip()).replace(tzinfo=None)
    except ValueError:
        return text


def utc_offset_text(text: str) -> str | None:
    """`+05:00` for `2026-03-01T09:30:00.000+05:00`; `+00:00` for `...Z`; None without one."""
    try:
        offset = datetime.fromisoformat(text.strip()).utcoffset()
    except ValueError:
        return None
    if offset is None:
        return None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _submission_date(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _joined(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(value)
    return value


_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "decimal": _to_number,
    "range": _to_number,
    "date": _to_date,
    "dateTime": _to_datetime,
    "time": _to_time,
}


# The names of the columns that are no question's, for a workbook with labels.
COLUMN_HEADERS = {
    "SubmissionDate": N_("Submission date"),
    "KEY": N_("Key"),
    "PARENT_KEY": N_("Parent key"),
    "SubmitterID": N_("Submitter ID"),
    "SubmitterName": N_("Submitted by"),
    "AttachmentsPresent": N_("Files received"),
    "AttachmentsExpected": N_("Files expected"),
    "Status": N_("Status"),
    "ReviewState": N_("Review state"),
    "DeviceID": N_("Device ID"),
    "Edits": N_("Edits"),
    "FormVersion": N_("Form version"),
    "RubricVersion": N_("Rubric version"),
    "VulnerabilityScore": N_("Vulnerability score"),
    "VulnerabilityLevel": N_("Vulnerability level"),
    "ExploitationStatus": N_("Exploitation status"),
    "Urgent": N_("Urgent"),
    "RiskLevel": N_("Risk level"),
    "RiskGroups": N_("Risk groups"),
    "ControlForms": N_("Control forms"),
    "ExploitationTypes": N_("Exploitation types"),
    "NeedsReview": N_("Needs review"),
    "_index": N_("Row number"),
    "_parent_index": N_("Parent row number"),
    "_parent_table_name": N_("Parent sheet"),
    "_submission_key": N_("Submission key"),
}
CALCULATED = N_("Calculated: %(name)s")
PART_WORDS = {
    "offset": N_("UTC offset"),
    "Latitude": N_("latitude"),
    "Longitude": N_("longitude"),
    "Altitude": N_("altitude"),
    "Accuracy": N_("accuracy"),
}
# The classification's values by column, for a workbook with labels.
VALUE_NAMES = {
    "ReviewState": REVIEW_STATE_LABELS,
    "RiskLevel": RISK_LEVEL_LABELS,
    "VulnerabilityLevel": RISK_LEVEL_LABELS,
    "ExploitationStatus": EXPLOITATION_STATUS,
    "RiskGroups": RISK_GROUPS,
    "ControlForms": CONTROL_FORMS,
    "ExploitationTypes": EXPLOITATION_TYPES,
}
BOOLEAN_NAMES = {True: N_("yes"), False: N_("no")}


def _value_labels(column: Column, translate: Callable[[str], str]):
    """The classification column's values by name (None: the column has no names)."""
    if column.type == "boolean":
        return lambda v: translate(BOOLEAN_NAMES[bool(v)])
    names = VALUE_NAMES.get(column.name)
    if names is None:
        return None

    def one(code: str) -> str:
        return translate(names[code]) if code in names else code

    if column.type == "list":
        return lambda v: "; ".join(one(x) for x in (v if isinstance(v, list | tuple) else
                                                    str(v).split()))
    return lambda v: one(str(v))


def label_converter(column: Column, language: str | None, default: str | None,
                    translate: Callable[[str], str] | None = None):
    """What writes a column's values as labels in `language` (a choice's label, a
    classification value's name with `translate`), or None when they have none: shared by the
    workbook and the CSV for Excel (exports/excel_csv.py)."""
    if translate is not None and column.source in ("system", "screening") \
            and column.type != "submission_date":
        named = _value_labels(column, translate)
        if named is not None:
            return named
    if column.source != "field":
        return None
    f = column.field
    if f.choices and f.type in ("select_one", "select_multiple", "rank"):
        names = {c.name: label_in(c.labels, language, default) or c.name for c in f.choices}
        if f.type == "select_one":
            return lambda v: names.get(v, v)
        return lambda v: "; ".join(names.get(x, x) for x in v.split())
    return None


def _converter(column: Column, language: str | None, default: str | None, labels: bool,
               translate: Callable[[str], str] | None = None):
    if labels and (named := label_converter(column, language, default, translate)) is not None:
        return named
    if column.source == "system":
        return _submission_date if column.type == "submission_date" else None
    if column.source == "screening":
        return _joined if column.type == "list" else None
    if column.source == "geo":
        return _to_number
    if column.source != "field":
        return None
    return _BY_TYPE.get(column.field.type)


def header_of(column: Column, language: str | None, default: str | None,
              translate: Callable[[str], str] | None = None) -> str:
    """A column's header in `language`: the field's label (else its name, or with `translate`
    a metadata field's name from METADATA_NAMES), with the part a geopoint's or an offset
    column adds; a column that is no question's by COLUMN_HEADERS with `translate`."""
    t = translate or (lambda text: text)
    if column.field is None:
        return t(COLUMN_HEADERS[column.name]) if translate and column.name in COLUMN_HEADERS \
            else column.name
    label = label_in(column.field.labels, language, default)
    if not label:  # never column.name: an offset or geo column's name has its suffix already
        name = column.field.name
        if translate and name in METADATA_NAMES:
            label = t(METADATA_NAMES[name])
        elif translate and column.field.kind == "calculate":  # its name is all it has
            label = t(CALCULATED) % {"name": name}
        else:
            label = name
    if column.source == "geo":
        return f"{label} ({t(PART_WORDS[GEOPOINT_PARTS[column.part]])})"
    if column.source == "offset":
        return f"{label} ({t(PART_WORDS['offset'])})"
    if column.source == "choice":
        choice = label_in(column.choice.labels, language, default) or column.choice.name
        return f"{label}/{choice}"
    return label


async def stream_xlsx(
    records: AsyncIterable[Mapping[str, Any]],
    layout: ExportLayout,
    *,
    language: str | None = None,
    header_labels: bool = False,
    choice_labels: bool = False,
    flush_bytes: int = FLUSH_BYTES,
    masked: frozenset[str] = frozenset(),
    translate: Callable[[str], str] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the bytes of the workbook while reading `records` (oldest first; their answers
    at the paths `masked` already masked: the codebook says which). Raises SpreadsheetLimitError before the first byte when a table is too wide."""
    default = layout.schema.default_language
    book = StreamingWorkbook(reserved=(CODEBOOK_SHEET,))
    sheets = []
    converters = []
    offsets = []
    for table in layout.tables:
        if header_labels:
            header = [header_of(c, language, default, translate) for c in table.columns]
        else:
            header = [c.name for c in table.columns]
        sheets.append(book.add_sheet(table.name, header))
        converters.append(
            [
                (i, conv)
                for i, c in enumerate(table.columns)
                if (conv := _converter(c, language, default, choice_labels, translate))
                is not None
            ]
        )
        # (dateTime column, its offset column): the offset column follows its dateTime
        offsets.append(
            [
                (i - 1, i)
                for i, c in enumerate(table.columns)
                if c.source == "offset" and i > 0 and table.columns[i - 1].field is c.field
            ]
        )
    codebook = book.add_sheet(CODEBOOK_SHEET, codebook_header(layout), reserved=True)
    builder = RowBuilder(layout, [sheet.name for sheet in sheets])
    try:
        yield book.take()
        async for record in records:
            for t_index, row in builder.rows(record):
                for at, offset_at in offsets[t_index]:
                    value = row[at]
                    if value.__class__ is str:
                        row[offset_at] = utc_offset_text(value)
                for at, convert in converters[t_index]:
                    value = row[at]
                    if value is not None:
                        row[at] = convert(value)
                sheets[t_index].append(row)
            if book.pending >= flush_bytes:
                yield book.take()
        for sheet in sheets:
            sheet.close()
        yield book.take()
        for row in codebook_rows(layout, masked):
            codebook.append(row)
        codebook.close()
        for chunk in book.finish():
            yield chunk
    finally:
        book.discard()

"""Submissions -> a zip of CSV files, as ODK Central's `submissions.csv.zip`, streamed.

`<formId>.csv` holds one row per submission; `<formId>-<repeat>.csv` one row per repeat
occurrence (Central appends `~1`, `~2`... when two repeats share a name). UTF-8 without a
BOM, `\\n` line ends, values as submitted; SubmissionDate in UTC as
`YYYY-MM-DDTHH:MM:SS.mmmZ`. The root file is written straight into the stream; repeat files
are spooled to temporary files and follow it, so memory stays flat however many rows there are.

With `files` (Central's default, `attachments` not false), the submissions' uploaded files
follow under `media/<name>`, except the ODK Collect audit logs (the file each submission names
in `meta/audit`), which are only merged into `<formId> - audit.csv`, as Central does: an `instance ID` column, then
Central's columns (event, node, start, end, latitude, longitude, accuracy, old-value,
new-value, user, change-reason) taken from each log by header name.

Text cells that a spreadsheet would run as a formula are neutralised as OWASP recommends: a
`'` is put before them, so Excel and LibreOffice show the text. The test is made on the text
as a spreadsheet may end up reading it, after every normalisation: a cell beginning with a
tab or a carriage return, or whose first character after any leading whitespace and line
breaks (which an import may trim) is `=`, `+`, `-`, `@` or their full-width forms (which
Excel takes as the ASCII ones). A value holding a carriage return is always quoted, so that
no reader ends the row there (Python's writer quotes only for the `\n` of our line ends).
Numbers stay numbers (`-5`, `+7.5`, `-1e3`). `escape_formulas=False` writes every value
exactly as submitted (Central's behaviour), still quoted where needed.

One difference from Central: the 0/1 columns of a split select_multiple stay empty when the
question was not answered (Central writes 0 there, which reads as "not chosen").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exports.flatten import RowBuilder
from exports.layout import ExportLayout
from exports.zipstream import ZipStream
from forms.sensitive import mask_client_audit_row

FLUSH_BYTES = 1 << 16
# what a spreadsheet runs as a formula at the start of a cell (after whitespace it may trim)
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_TRIGGERS = (*FORMULA_STARTS, "\t", "\r")  # OWASP: these first characters too
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
CLIENT_AUDIT_COLUMNS = (
    "event", "node", "start", "end", "latitude", "longitude", "accuracy", "old-value",
    "new-value", "user", "change-reason",
)
# positions in a merged audit row (the instance ID first): the node, the place, the values
_AUDIT_MASKING = (
    1 + CLIENT_AUDIT_COLUMNS.index("node"),
    tuple(1 + CLIENT_AUDIT_COLUMNS.index(c) for c in ("latitude", "longitude", "accuracy")),
    tuple(1 + CLIENT_AUDIT_COLUMNS.index(c) for c in ("old-value", "new-value")),
)


@dataclass(frozen=True)
class SubmissionFile:
    """An uploaded file of an exported submission."""

    instance_id: str
    name: str
    content: bytes
    client_audit: bool = False


_FILENAME_UNSAFE = re.compile(r'[/\\?<>:*|"\x00-\x1f\x80-\x9f]')


def sanitize_filename(name: str) -> str:
    """As npm's sanitize-filename (Central): drop characters file systems refuse."""
    cleaned = _FILENAME_UNSAFE.sub("", name)
    if cleaned in (".", ".."):
        cleaned = ""
    return cleaned[:255]


def table_filenames(layout: ExportLayout) -> list[str]:
    """File names of the tables, root first, as Central names them."""
    form_id = layout.form_id
    names = [sanitize_filename(f"{form_id}.csv")]
    repeat_names = [t.name for t in layout.tables[1:]]
    totals: dict[str, int] = {}
    for name in repeat_names:
        totals[name] = totals.get(name, 0) + 1
    counts: dict[str, int] = {}
    for name in repeat_names:
        if totals[name] > 1:
            counts[name] = counts.get(name, 0) + 1
            names.append(sanitize_filename(f"{form_id}-{name}~{counts[name]}.csv"))
        else:
            names.append(sanitize_filename(f"{form_id}-{name}.csv"))
    return names


def neutralise_formula(value: str) -> str:
    """OWASP's CSV injection defence: a text a spreadsheet would evaluate gets a leading `'`,
    judged on the text after the leading whitespace and line breaks a reader may drop."""
    if value.startswith(("\t", "\r")):
        return "'" + value
    shown = value.lstrip()
    if shown.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(shown):
        return "'" + value
    return value


def _neutralise_row(row: list[Any]) -> list[Any]:
    for index, value in enumerate(row):
        if value.__class__ is str and value and (
            value.startswith(FORMULA_TRIGGERS) or value[0].isspace()
        ):
            row[index] = neutralise_formula(value)
    return row


def iso_utc(moment: datetime) -> str:
    """Central's SubmissionDate: JavaScript's Date.toISOString()."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _screening_text(value: Any) -> Any:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple):
        return " ".join(value)
    return value


def _root_converters(layout: ExportLayout) -> list[tuple[int, Callable[[Any], Any]]]:
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(layout.tables[0].columns):
        if column.source == "system" and column.type == "submission_date":
            converters.append((index, iso_utc))
        elif column.source == "screening":
            converters.append((index, _screening_text))
    return converters


class _Table:
    """A CSV writer over a binary stream (a zip entry or a spool). A row with a carriage
    return in a value goes through a writer whose line end holds `\r` (so it quotes that
    value), then gets our `\n` line end back."""

    def __init__(self, raw, bom: bool = False) -> None:
        self.raw = raw
        self.text = io.TextIOWrapper(raw, encoding="utf-8-sig" if bom else "utf-8", newline="",
                                     write_through=False)
        self.writer = csv.writer(self.text, lineterminator="\n")
        self._carriage = io.StringIO()
        self._carriage_writer = csv.writer(self._carriage, lineterminator="\r\n")

    def writerow(self, row: list[Any]) -> None:
        for value in row:
            if value.__class__ is str and "\r" in value:
                self._carriage.seek(0)
                self._carriage.truncate()
                self._carriage_writer.writerow(row)
                self.text.write(self._carriage.getvalue()[:-2] + "\n")
                return
        self.writer.writerow(row)

    def detach(self):
        self.text.flush()
        return self.text.detach()


def client_audit_rows(
    instance_id: str, content: bytes, masked: frozenset[str] = frozenset()
) -> Iterator[list[str | None]]:
    """The events of one ODK Collect audit log (CSV with a header row) as rows of the merged
    audit CSV: columns picked by header name, cells trimmed, blank lines skipped; for a reader
    with `masked` questions, their values and every event's place are masked."""
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    positions = {name.strip(): at for at, name in reversed(list(enumerate(header)))}
    wanted = [positions.get(name) for name in CLIENT_AUDIT_COLUMNS]
    for row in reader:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        row = [
            instance_id,
            *[cells[at] if at is not None and at < len(cells) else None for at in wanted],
        ]
        yield mask_client_audit_row(row, masked, *_AUDIT_MASKING) if masked else row


def client_audit_filename(layout: ExportLayout) -> str:
    return sanitize_filename(f"{layout.form_id} - audit.csv")


async def stream_csv_zip(
    records: AsyncIterable[Mapping[str, Any]],
    layout: ExportLayout,
    *,
    files: AsyncIterable[SubmissionFile] | None = None,
    flush_bytes: int = FLUSH_BYTES,
    escape_formulas: bool = True,
    masked: frozenset[str] = frozenset(),
    bom: bool = False,
    headers: Sequence[Sequence[str]] | None = None,
    converters: Sequence[Sequence[tuple[int, Callable[[Any], Any]]]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the bytes of the zip while reading `records` (in the order given: Central's is
    newest first; their masked answers already masked), then `files` (see the module
    docstring); `masked` masks the Collect audit logs' values of those questions.

    Central's layout by default; the CSV for Excel (exports/excel_csv.py) gives `bom` (each
    file starts with the UTF-8 byte-order mark), `headers` (a header row per table) and
    `converters` (per table, (column, convert) pairs that take the place of ours)."""
    archive = ZipStream()
    names = table_filenames(layout)
    builder = RowBuilder(layout)
    table_converters = [[] for _ in layout.tables] if converters is None \
        else [list(c) for c in converters]
    replaced = {at for at, _ in table_converters[0]}
    table_converters[0] += [(at, c) for at, c in _root_converters(layout) if at not in replaced]
    root = _Table(archive.open(names[0]), bom)
    repeats = [_Table(archive.spool(), bom) for _ in layout.tables[1:]]
    tables = [root, *repeats]
    for index, (table, spec) in enumerate(zip(tables, layout.tables, strict=True)):
        table.writerow(list(headers[index]) if headers is not None
                       else [c.name for c in spec.columns])
    audit: _Table | None = None
    try:
        async for record in records:
            for t_index, row in builder.rows(record):
                for at, convert in table_converters[t_index]:
                    value = row[at]
                    if value is not None:
                        row[at] = convert(value)
                if escape_formulas:
                    _neutralise_row(row)
                tables[t_index].writerow(row)
            if archive.pending >= flush_bytes:
                yield archive.take()
        root.detach().close()
        yield archive.take()
        for name, table in zip(names[1:], repeats, strict=True):
            spooled = table.detach()
            for _ in archive.copy_spooled(name, spooled):
                if archive.pending >= flush_bytes:
                    yield archive.take()
        if files is not None:
            async for item in files:
                if not item.client_audit:
                    archive.writestr("media/" + sanitize_filename(item.name), item.content)
                else:  # merged only, not under media/ (as Central)
                    if audit is None:
                        audit = _Table(archive.spool())
                        audit.writerow(["instance ID", *CLIENT_AUDIT_COLUMNS])
                    for row in client_audit_rows(item.instance_id, item.content, masked):
                        audit.writerow(_neutralise_row(row) if escape_formulas else row)
                if archive.pending >= flush_bytes:
                    yield archive.take()
            if audit is not None:
                for _ in archive.copy_spooled(client_audit_filename(layout), audit.detach()):
                    if archive.pending >= flush_bytes:
                        yield archive.take()
        yield archive.close()
    finally:
        for table in (*repeats, *([audit] if audit is not None else [])):
            if not table.raw.closed:
                table.raw.close()
        archive.discard()  # an aborted download leaves nothing for ZipFile.__del__

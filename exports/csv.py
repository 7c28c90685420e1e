"""Submissions -> a zip of CSV files, as ODK Central's `submissions.csv.zip`, streamed.

`<formId>.csv` holds one row per submission; `<formId>-<repeat>.csv` one row per repeat
occurrence (Central appends `~1`, `~2`... when two repeats share a name). UTF-8 without a
BOM, `\\n` line ends, values as submitted; SubmissionDate in UTC as
`YYYY-MM-DDTHH:MM:SS.mmmZ`. The root file is written straight into the stream; repeat files
are spooled to temporary files and follow it, so memory stays flat however many rows there are.

One difference from Central: the 0/1 columns of a split select_multiple stay empty when the
question was not answered (Central writes 0 there, which reads as "not chosen").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from exports.flatten import RowBuilder
from exports.layout import ExportLayout
from exports.zipstream import ZipStream

FLUSH_BYTES = 1 << 16
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
    """A CSV writer over a binary stream (a zip entry or a spool)."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
        self.writer = csv.writer(self.text, lineterminator="\n")

    def detach(self):
        self.text.flush()
        return self.text.detach()


async def stream_csv_zip(
    records: AsyncIterable[Mapping[str, Any]],
    layout: ExportLayout,
    *,
    flush_bytes: int = FLUSH_BYTES,
) -> AsyncIterator[bytes]:
    """Yield the bytes of the zip while reading `records` (oldest first)."""
    archive = ZipStream()
    names = table_filenames(layout)
    builder = RowBuilder(layout)
    converters = _root_converters(layout)
    root = _Table(archive.open(names[0]))
    repeats = [_Table(archive.spool()) for _ in layout.tables[1:]]
    tables = [root, *repeats]
    for table, spec in zip(tables, layout.tables, strict=True):
        table.writer.writerow([c.name for c in spec.columns])
    try:
        async for record in records:
            for t_index, row in builder.rows(record):
                if t_index == 0:
                    for at, convert in converters:
                        value = row[at]
                        if value is not None:
                            row[at] = convert(value)
                tables[t_index].writer.writerow(row)
            if archive.pending >= flush_bytes:
                yield archive.take()
        root.detach().close()
        yield archive.take()
        for name, table in zip(names[1:], repeats, strict=True):
            spooled = table.detach()
            for _ in archive.copy_spooled(name, spooled):
                if archive.pending >= flush_bytes:
                    yield archive.take()
        yield archive.close()
    finally:
        for table in repeats:
            if not table.raw.closed:
                table.raw.close()

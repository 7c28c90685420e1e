"""Submissions -> a zip of CSV files for Excel: the files of Central's layout (exports/csv.py:
one per table, PARENT_KEY/KEY, newest submission first, formula neutralisation), but each
starts with the UTF-8 byte-order mark, so Excel reads it as UTF-8 when the file is
double-clicked (without one it takes the system's code page and Cyrillic comes out garbled;
ODK Central's getodk/central#752), and headers and values are labelled as in the workbook
with labels (exports/xlsx.py's `header_of` and `label_converter`: one home for that logic):
headers in `language` (the form's default when None), choices as labels with
`choice_labels`. Values stay text as submitted otherwise; there are no media files.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

from exports.csv import stream_csv_zip
from exports.layout import ExportLayout
from exports.xlsx import header_of, label_converter


async def stream_excel_csv_zip(
    records: AsyncIterable[Mapping[str, Any]],
    layout: ExportLayout,
    *,
    language: str | None = None,
    choice_labels: bool = True,
    translate: Callable[[str], str] | None = None,
    escape_formulas: bool = True,
) -> AsyncIterator[bytes]:
    """Yield the zip's bytes while reading `records` (their masked answers already masked)."""
    default = layout.schema.default_language
    headers = [[header_of(c, language, default, translate) for c in table.columns]
               for table in layout.tables]
    converters = [
        [(at, convert) for at, c in enumerate(table.columns)
         if (convert := label_converter(c, language, default, translate)) is not None]
        if choice_labels else []
        for table in layout.tables
    ]
    async for chunk in stream_csv_zip(records, layout, escape_formulas=escape_formulas, bom=True,
                                      headers=headers, converters=converters):
        yield chunk

"""The summaries' workbook (risk.xlsx): a sheet per table, a notes sheet. Pure: protected
tables in, bytes out. A suppressed count is written as "x" (explained on the notes sheet).

In the reader's language when the caller gives `translate` (a gettext taking %(name)s
variables, e.g. api.i18n.I18n.gettext): this module's own words, the sheet titles, note keys
and note texts (a note is (key, text) or (key, template, variables)) are looked up in the
catalogue; `dim_names` and `value_label` name the dimensions and their values. Without them the
workbook is English, as REST serves it."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from exports.disclosure import ProtectedTable
from exports.spreadsheet import append_text_safe

SUPPRESSED = "x"
_BOLD = Font(bold=True)
_INVALID_TITLE = str.maketrans({c: " " for c in "[]:*?/\\"})


Translate = Callable[..., str]


def english(message: str, **variables) -> str:
    return message % variables if variables else message


@dataclass(frozen=True)
class Words:
    """How the workbook names things: gettext, the dimensions' names, the values' labels."""

    translate: Translate = english
    dim_names: Mapping[str, str] = field(default_factory=dict)
    value_label: Callable[[Any], str | None] | None = None

    def dim(self, name: str) -> str:
        return self.dim_names.get(name, name)


@dataclass(frozen=True)
class SummarySheet:
    title: str
    dims: tuple[str, ...]
    slices: Sequence[tuple[str | None, ProtectedTable]]  # (period label, table)
    labels: Mapping[Any, str] = field(default_factory=dict)  # value -> text shown


def _count(n: int | None):
    return SUPPRESSED if n is None else n


def _label(sheet: SummarySheet, value, words: Words) -> str:
    named = words.value_label(value) if words.value_label else None
    return named or sheet.labels.get(value, str(value))


def _write_table(ws, sheet: SummarySheet, table: ProtectedTable, words: Words) -> None:
    _ = words.translate
    dims = sheet.dims
    if not dims:
        append_text_safe(ws, [_("Total"), _count(table.total)])
        return
    if len(dims) == 1:
        append_text_safe(ws, [words.dim(dims[0]), _("count")])
        for cell in ws[ws.max_row]:
            cell.font = _BOLD
        for (value,), n in table.cells.items():
            append_text_safe(ws, [_label(sheet, value, words), _count(n)])
        append_text_safe(ws, [_("Total (persons)"), _count(table.total)])
        ws[ws.max_row][0].font = _BOLD
        return
    rows = list(table.margins[0])
    cols = list(table.margins[1])
    append_text_safe(ws, [f"{words.dim(dims[0])} \\ {words.dim(dims[1])}",
                          *[_label(sheet, c, words) for c in cols], _("Total")])
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
    for r in rows:
        append_text_safe(
            ws,
            [
                _label(sheet, r, words),
                *[_count(table.cells.get((r, c))) for c in cols],
                _count(table.margins[0][r]),
            ],
        )
    append_text_safe(
        ws, [_("Total"), *[_count(table.margins[1][c]) for c in cols], _count(table.total)]
    )
    ws[ws.max_row][0].font = _BOLD


def summary_workbook(sheets: Sequence[SummarySheet], notes: Sequence[tuple], *,
                     words: Words | None = None) -> bytes:
    words = words or Words()
    _ = words.translate
    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet in sheets:
        heading = _(sheet.title)
        title = heading.translate(_INVALID_TITLE)[:31] or _("Table")
        base, n = title, 2
        while title.lower() in used:
            title = f"{base[:28]} {n}"
            n += 1
        used.add(title.lower())
        ws = book.create_sheet(title)
        append_text_safe(ws, [heading])
        ws["A1"].font = Font(bold=True, size=13)
        for label, table in sheet.slices:
            append_text_safe(ws, [])
            if label is not None or len(sheet.slices) > 1:
                append_text_safe(ws, [_("Period: %(period)s", period=label or _("date unknown"))])
                ws[ws.max_row][0].font = _BOLD
            _write_table(ws, sheet, table, words)
        ws.column_dimensions["A"].width = 28
    notes_title = _("Notes")
    ws = book.create_sheet(notes_title.translate(_INVALID_TITLE)[:31])
    append_text_safe(ws, [notes_title])
    ws["A1"].font = Font(bold=True, size=13)
    for key, text, *variables in notes:
        shown = _(text, **variables[0]) if variables else _(text) if text else text
        append_text_safe(ws, [_(key), shown])
        ws[ws.max_row][0].font = _BOLD
        ws[ws.max_row][1].alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

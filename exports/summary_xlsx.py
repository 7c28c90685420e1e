"""The summaries' workbook (risk.xlsx): a sheet per table, a notes sheet. Pure: protected
tables in, bytes out. A suppressed count is written as "x" (explained on the notes sheet)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from exports.disclosure import ProtectedTable
from exports.spreadsheet import append_text_safe

SUPPRESSED = "x"
_BOLD = Font(bold=True)
_INVALID_TITLE = str.maketrans({c: " " for c in "[]:*?/\\"})


@dataclass(frozen=True)
class SummarySheet:
    title: str
    dims: tuple[str, ...]
    slices: Sequence[tuple[str | None, ProtectedTable]]  # (period label, table)
    labels: Mapping[Any, str] = field(default_factory=dict)  # value -> text shown


def _count(n: int | None):
    return SUPPRESSED if n is None else n


def _label(sheet: SummarySheet, value) -> str:
    return sheet.labels.get(value, str(value))


def _write_table(ws, sheet: SummarySheet, table: ProtectedTable) -> None:
    dims = sheet.dims
    if not dims:
        append_text_safe(ws, ["Total", _count(table.total)])
        return
    if len(dims) == 1:
        append_text_safe(ws, [dims[0], "count"])
        for cell in ws[ws.max_row]:
            cell.font = _BOLD
        for (value,), n in table.cells.items():
            append_text_safe(ws, [_label(sheet, value), _count(n)])
        append_text_safe(ws, ["Total (persons)", _count(table.total)])
        ws[ws.max_row][0].font = _BOLD
        return
    rows = list(table.margins[0])
    cols = list(table.margins[1])
    append_text_safe(ws, [f"{dims[0]} \\ {dims[1]}", *[_label(sheet, c) for c in cols], "Total"])
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
    for r in rows:
        append_text_safe(
            ws,
            [
                _label(sheet, r),
                *[_count(table.cells.get((r, c))) for c in cols],
                _count(table.margins[0][r]),
            ],
        )
    append_text_safe(
        ws, ["Total", *[_count(table.margins[1][c]) for c in cols], _count(table.total)]
    )
    ws[ws.max_row][0].font = _BOLD


def summary_workbook(sheets: Sequence[SummarySheet], notes: Sequence[tuple[str, str]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet in sheets:
        title = sheet.title.translate(_INVALID_TITLE)[:31] or "Table"
        base, n = title, 2
        while title.lower() in used:
            title = f"{base[:28]} {n}"
            n += 1
        used.add(title.lower())
        ws = book.create_sheet(title)
        append_text_safe(ws, [sheet.title])
        ws["A1"].font = Font(bold=True, size=13)
        for label, table in sheet.slices:
            append_text_safe(ws, [])
            if label is not None or len(sheet.slices) > 1:
                append_text_safe(ws, [f"Period: {label or 'date unknown'}"])
                ws[ws.max_row][0].font = _BOLD
            _write_table(ws, sheet, table)
        ws.column_dimensions["A"].width = 28
    ws = book.create_sheet("Notes")
    append_text_safe(ws, ["Notes"])
    ws["A1"].font = Font(bold=True, size=13)
    for key, text in notes:
        append_text_safe(ws, [key, text])
        ws[ws.max_row][0].font = _BOLD
        ws[ws.max_row][1].alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

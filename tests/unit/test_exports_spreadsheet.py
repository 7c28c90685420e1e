"""exports.spreadsheet: the streaming writer's output read back with openpyxl, and Excel's
limits handled as formpack handles them."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import openpyxl
import pytest

from exports import spreadsheet
from exports.spreadsheet import (
    MAX_CELL_CHARS,
    TRUNCATION_WARNING,
    SpreadsheetLimitError,
    StreamingWorkbook,
    column_letter,
    unique_sheet_name,
)


def build(sheets: dict[str, list[list]]) -> openpyxl.Workbook:
    book = StreamingWorkbook()
    out = bytearray()
    made = [book.add_sheet(name, rows[0]) for name, rows in sheets.items()]
    for sheet, rows in zip(made, sheets.values(), strict=True):
        for row in rows[1:]:
            sheet.append(row)
        out += book.take()
    for sheet in made:
        sheet.close()
    out += book.take()
    for chunk in book.finish():
        out += chunk
    return openpyxl.load_workbook(io.BytesIO(bytes(out)))


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")]
)
def test_column_letters(index, letters) -> None:
    assert column_letter(index) == letters


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("This string has more than 31 characters!", (), "This string has more than 31..."),
        (
            "This string has more than 31 characters!",
            ("This string has more than 31...",),
            "This string has more tha... (1)",
        ),
        ("a/b:c*d?e[f]g\\h", (), "a_b_c_d_e_f_g_h"),
        ("'quoted'", (), "_quoted_"),
        ("member", ("Member",), "member (1)"),
    ],
)
def test_sheet_names_as_formpack(name, taken, expected) -> None:
    assert unique_sheet_name(name, taken) == expected


def test_cells_are_typed_and_read_back() -> None:
    book = build(
        {
            "data": [
                ["text", "int", "float", "bool", "date", "datetime", "time", "empty"],
                ["a & <b>", 42, 1.5, True, date(2026, 3, 1), datetime(2026, 3, 1, 10, 30), time(7, 15), None],
                ["  padded ", -(2**60), float("nan"), False, date(1899, 1, 1), None, None, ""],
            ]
        }
    )
    rows = list(book["data"].iter_rows(values_only=True))
    assert rows[1] == ("a & <b>", 42, 1.5, True, datetime(2026, 3, 1), datetime(2026, 3, 1, 10, 30),
                       time(7, 15), None)
    # too big for a double, not a number, before Excel's calendar: kept as text
    assert rows[2][:5] == ("  padded ", str(-(2**60)), "nan", False, "1899-01-01")


def test_long_text_is_cut_with_formpack_warning() -> None:
    text = "x" * (MAX_CELL_CHARS + 100)
    value = build({"s": [["long"], [text]]})["s"]["A2"].value
    assert len(value) == MAX_CELL_CHARS
    assert value.startswith(TRUNCATION_WARNING) and value.endswith("x")


def test_characters_xml_cannot_carry_are_escaped_as_excel_does() -> None:
    value = build({"s": [["c"], ["bell\x07 and _x0041_"]]})["s"]["A2"].value
    # openpyxl does not decode Excel's escapes; Excel shows "bell\a and _x0041_"
    assert value == "bell_x0007_ and _x005F_x0041_"


def test_rows_past_the_limit_continue_on_another_sheet(monkeypatch) -> None:
    monkeypatch.setattr(spreadsheet, "MAX_ROWS", 4)
    book = build({"data": [["n"], *[[n] for n in range(7)]], "other": [["m"], [1]]})
    # 4 rows a sheet, the header repeated on each
    assert book.sheetnames == ["data", "other", "data (1)", "data (2)"]
    assert [r[0] for r in book["data"].iter_rows(values_only=True)] == ["n", 0, 1, 2]
    assert [r[0] for r in book["data (1)"].iter_rows(values_only=True)] == ["n", 3, 4, 5]
    assert [r[0] for r in book["data (2)"].iter_rows(values_only=True)] == ["n", 6]


def test_too_many_columns_is_refused_before_writing() -> None:
    book = StreamingWorkbook()
    with pytest.raises(SpreadsheetLimitError):
        book.add_sheet("wide", [f"c{n}" for n in range(spreadsheet.MAX_COLUMNS + 1)])

"""Spreadsheets people open: no text of ours is ever a formula, CSV text cells are
neutralised (OWASP), `\\r` survives as `_x000D_`, and zip containers use Zip64 only where an
entry needs it (Microsoft Excel refuses or repairs all-Zip64 containers)."""

from __future__ import annotations

import io
import re
import struct
import zipfile

import openpyxl
import pytest

from exports.csv import neutralise_formula
from exports.disclosure import Cell, CountTable, unprotected
from exports.spreadsheet import StreamingWorkbook
from exports.summary_xlsx import SummarySheet, summary_workbook
from exports.zipstream import ZipStream

EVIL = '=HYPERLINK("http://evil.example/x","click")'
HOSTILE_TEXTS = [EVIL, "+1+2", "-2+3", "@SUM(A1)", "#N/A", "=1+1", "a\rb", "tab\there", "\x01ctl"]


def _all_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(
            archive.read(n).decode() for n in archive.namelist() if n.endswith(".xml")
        )


def excel_text(value: str) -> str:
    """A text as Excel shows it: `_xHHHH_` decoded, `_x005F_` protecting a literal."""
    return re.sub(
        r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value
    )


def local_headers(data: bytes) -> list[dict]:
    """Every local file header of a zip, read from the bytes (not through zipfile)."""
    headers = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            at = info.header_offset
            (sig, version, flags, _method, _t, _d, _crc, csize, usize, nlen, xlen) = (
                struct.unpack("<IHHHHHIIIHH", data[at : at + 30])
            )
            assert sig == 0x04034B50
            extra = data[at + 30 + nlen : at + 30 + nlen + xlen]
            ids = []
            while len(extra) >= 4:
                ident, size = struct.unpack("<HH", extra[:4])
                ids.append(ident)
                extra = extra[4 + size :]
            headers.append(
                {"name": info.filename, "version": version, "flags": flags,
                 "sizes": (csize, usize), "extra_ids": ids, "info": info}
            )
    return headers


def streaming_book(rows: list[list]) -> bytes:
    book = StreamingWorkbook()
    sheet = book.add_sheet("data", ["a", "b"])
    second = book.add_sheet("more", ["a"])
    for row in rows:
        sheet.append(row)
        second.append(row[:1])
    sheet.close()
    second.close()
    out = book.take()
    for chunk in book.finish():
        out += chunk
    return out


def test_streaming_xlsx_writes_text_never_formulas_and_keeps_carriage_returns() -> None:
    data = streaming_book([[text, 1] for text in HOSTILE_TEXTS])
    xml = _all_xml(data)
    assert "<f>" not in xml and "<f " not in xml
    assert "a_x000D_b" in xml
    sheet = openpyxl.load_workbook(io.BytesIO(data))["data"]
    # openpyxl does not decode Excel's _xHHHH_ escapes (Excel does): decode them here
    values = [excel_text(row[0].value) for row in sheet.iter_rows(min_row=2)]
    assert values == HOSTILE_TEXTS
    assert all(row[0].data_type == "s" for row in sheet.iter_rows(min_row=2))


def test_summary_workbook_labels_from_phones_are_text() -> None:
    table = unprotected(CountTable(
        ("region",), (False,), {(EVIL,): Cell(12, 3), ("=1+1",): Cell(11, 4)}, total=Cell(23, 7)
    ))
    data = summary_workbook(
        [SummarySheet(EVIL, ("region",), [(None, table)], labels={"=1+1": "@SUM(A1)"})],
        [("note", "a\rb")],
    )
    xml = _all_xml(data)
    assert "<f>" not in xml and "<f " not in xml
    book = openpyxl.load_workbook(io.BytesIO(data))
    values = [excel_text(c.value) for ws in book for row in ws.iter_rows() for c in row
              if isinstance(c.value, str)]
    assert EVIL in values and "@SUM(A1)" in values and "a\rb" in values


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (EVIL, "'" + EVIL),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("-5", "-5"),
        ("+7.25", "+7.25"),
        ("-1e3", "-1e3"),
        ("+992900000000", "+992900000000"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_neutralises_formula_text_but_not_numbers(value: str, written: str) -> None:
    assert neutralise_formula(value) == written


def test_zip_entries_are_plain_unless_they_need_zip64() -> None:
    for data in (streaming_book([["x", 1]] * 50), summary_like_zip()):
        headers = local_headers(data)
        assert headers
        for header in headers:
            assert header["version"] == 20, header
            assert 0x0001 not in header["extra_ids"], header
            assert 0xFFFFFFFF not in header["sizes"], header
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
            for info in archive.infolist():
                assert info.create_version < 45 and info.extract_version < 45


def summary_like_zip() -> bytes:
    archive = ZipStream()
    with archive.open("a.csv") as entry:
        entry.write(b"a,b\n1,2\n")
    spool = archive.spool()
    spool.write(b"c\n3\n")
    archive.write_spooled("b.csv", spool)
    return archive.take() + archive.close()


def test_zip_entry_past_the_limit_switches_to_zip64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 5000)
    archive = ZipStream()
    with archive.open("small.csv") as entry:
        entry.write(b"x" * 100)
    with archive.open("big.csv") as entry:
        for _ in range(20):
            entry.write(bytes(range(256)) * 4)  # 20 KiB, past the (patched) limit
    data = archive.take() + archive.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive_in:
        assert archive_in.read("big.csv") == bytes(range(256)) * 80
        assert archive_in.read("small.csv") == b"x" * 100
        big = archive_in.getinfo("big.csv")
        small = archive_in.getinfo("small.csv")
        assert big.extract_version == 45 and small.extract_version == 20
    headers = {h["name"]: h for h in local_headers(data)}
    assert headers["small.csv"]["version"] == 20


# What may come before a formula and be taken away on the way into a spreadsheet: the XML
# parser's line-end normalisation, a reader ending a row at a bare `\r`, an import trimming
# leading whitespace (ASCII and Unicode).
LEADING = ["", " ", "  ", "\t", "\r", "\n", "\r\n", "\n\r", " \r", "\r ", "\u00a0", "\u2028",
           "\x0b", "\x0c", "\u3000", "\ufeff"]
STARTS = ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"]
LEFT_ALONE = ["-5", "+7.25", " -1e3", "a=b", "x\r=SUM(6)"]


def spreadsheet_cells(text: str) -> list[str]:
    """The cells a spreadsheet reads from a CSV: line ends normalised (`\\r\\n` and a bare
    `\\r` end a row outside quotes), then parsed, then leading whitespace trimmed."""
    import csv as csv_module

    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    rows = csv_module.reader(io.StringIO(normalised, newline=""))
    return [cell.lstrip() for row in rows for cell in row]


def csv_of(values: list[str]) -> str:
    from pyxform.xls2xform import convert

    from exports.layout import build_layout, merge_versions
    from forms.schema import parse_xform
    from tests.unit.test_exports_layout import csv_files, record

    md = "| survey | | | |\n| | type | name | label |\n| | text | t | T |\n" \
         "| settings | | | |\n| | form_id | version | |\n| | hostile | 1 | |\n"
    schema = parse_xform(convert(xlsform=md, file_type=".md", pretty_print=False).xform)
    layout = build_layout(merge_versions([schema]))
    records = [record(f"uuid:{n}", {"t": value}) for n, value in enumerate(values)]
    return csv_files(layout, records)["hostile.csv"]


def test_no_csv_cell_becomes_a_formula_after_any_normalisation() -> None:
    """`"\\r=SUM(6)"` was written `'\\r=SUM(6)` unquoted: a reader ends the row at the `\\r`
    and the next row begins with a live `=SUM(6)`. Every start a spreadsheet acts on, after
    every leading whitespace or line end it may drop, must come out as text."""
    hostile = [lead + start + "SUM(6)" for lead in LEADING for start in STARTS]
    hostile += [lead + "\t=1" for lead in LEADING] + ["\r\n=1", "\r\r=1", "\n\r@A1"]
    cells = spreadsheet_cells(csv_of(hostile + LEFT_ALONE))
    live = [c for c in cells if c.startswith(tuple(STARTS)) and not re.fullmatch(
        r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", c)]
    assert live == []
    for kept in LEFT_ALONE:  # numbers and text without a formula start stay as they were
        assert neutralise_formula(kept) == kept
    assert "-5" in cells and "+7.25" in cells

"""A streaming .xlsx (SpreadsheetML) writer: rows in, zip bytes out, in flat memory.

Why not openpyxl's write-only mode or xlsxwriter's constant_memory mode: both write the
workbook to temporary files first and cost 5-6x more time per cell; at 100k risk screenings
(~7M cells) they miss the 10 s target (bench/exports.py prints the figures). This writer
emits the first sheet's XML straight into the response's zip stream, spools other sheets to
temporary files, and writes cells as inline strings, numbers, booleans and dates.

Excel's limits, handled as formpack (KoboToolbox) handles them:
- a text over 32,767 characters gets formpack's warning prefix and is cut to 32,767;
- sheet names: `[]*?:/\\` become `_`, a leading or trailing `'` becomes `_`, names over 31
  characters are cut with `...`, duplicates get `... (n)`;
- characters XML 1.0 cannot carry, and `\r` (which XML parsers turn into `\n`), are
  written as Excel's `_xHHHH_` escapes (`_x000D_`, as Excel and xlsxwriter do), and a
  literal `_xHHHH_` is protected as `_x005F_xHHHH_`;
- text is always an inline string, never a formula, whatever it begins with (`=`, `+`...);
- more rows than a sheet holds (1,048,576) continue on a sheet named like the next duplicate;
- more than 16,384 columns cannot be written: `SpreadsheetLimitError` before the first row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from exports.zipstream import ZipStream

MAX_CELL_CHARS = 32_767
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_SHEET_NAME = 31
TRUNCATION_WARNING = "<WARNING: Truncated to Excel limit of 32767 characters!>"
FORBIDDEN_SHEET_CHARS = "[]*?:\\/"

STYLE_DATE = 1
STYLE_DATETIME = 2
STYLE_TIME = 3
STYLE_HEADER = 4

_EXCEL_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_FIRST_SAFE_DATE = date(1900, 3, 1)  # Excel's serials before this count a 29 Feb 1900
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
# Repeated short texts (choice values, yes/no) are escaped once; unique ones (keys, names)
# are longer than this and are not kept, so the cache stays small.
_STRING_CACHE_LIMIT = 20_000
_STRING_CACHE_MAX_LEN = 32

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


class SpreadsheetLimitError(Exception):
    pass


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _ellipsize(name: str, limit: int, ellipsis: str) -> str:
    return name if len(name) <= limit else name[: limit - len(ellipsis)] + ellipsis


def unique_sheet_name(name: str, taken: Sequence[str]) -> str:
    """formpack's unique_name_for_xls."""
    name = name.translate({ord(c): "_" for c in FORBIDDEN_SHEET_CHARS})
    name = re.sub(r"(^'|'$)", "_", name) or "_"
    lowered = {t.lower() for t in taken}  # Excel compares sheet names case-insensitively
    candidate = _ellipsize(name, MAX_SHEET_NAME, "...")
    n = 1
    while candidate.lower() in lowered:
        candidate = _ellipsize(name, MAX_SHEET_NAME, f"... ({n})")
        if candidate.lower() in lowered and len(name) + len(f" ({n})") <= MAX_SHEET_NAME:
            candidate = f"{name} ({n})"
        n += 1
    return candidate


def _escape_special(match: re.Match) -> str:
    text = match.group(0)
    if text == "&":
        return "&amp;"
    if text == "<":
        return "&lt;"
    if text == ">":
        return "&gt;"
    if len(text) == 1:
        return f"_x{ord(text):04X}_"
    return "_x005F" + text


def cell_text(value: str) -> str:
    """A text as it goes between <t> and </t>: cut to Excel's limit, escaped."""
    if len(value) > MAX_CELL_CHARS:
        value = (TRUNCATION_WARNING + value)[:MAX_CELL_CHARS]
    if _SPECIAL.search(value):
        value = _SPECIAL.sub(_escape_special, value)
    return value


def _string_fragment(value: str) -> str:
    text = cell_text(value)
    if value[:1].isspace() or value[-1:].isspace():
        return f'" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f'" t="inlineStr"><is><t>{text}</t></is></c>'


def excel_serial(value: date | datetime) -> float | int | None:
    """Days since 1899-12-30 (Excel's 1900 system); None before 1900-03-01."""
    if value.__class__ is date:
        if value < _FIRST_SAFE_DATE:
            return None
        return value.toordinal() - _EXCEL_EPOCH_ORDINAL
    if value.date() < _FIRST_SAFE_DATE:
        return None
    seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return value.toordinal() - _EXCEL_EPOCH_ORDINAL + seconds / 86400


def append_text_safe(worksheet, values: Sequence[Any]) -> None:
    """`worksheet.append(values)` for an openpyxl worksheet, with every text a text: openpyxl
    turns a string beginning with `=` into a live formula and `#N/A`-like ones into errors,
    and refuses control characters. Here a text is written as an inline string (escaped as
    `cell_text` escapes it), so no answer or label sent by a phone becomes a formula."""
    from openpyxl.cell import Cell

    row = []
    for value in values:
        if value.__class__ is str:
            cell = Cell(worksheet, value=_escaped(value))
            cell.data_type = "s"
            value = cell
        row.append(value)
    worksheet.append(row)


def _escaped(value: str) -> str:
    if len(value) > MAX_CELL_CHARS:
        value = (TRUNCATION_WARNING + value)[:MAX_CELL_CHARS]
    return _OPENPYXL_SPECIAL.sub(_escape_control, value)


# openpyxl escapes &, <, > itself; these it would refuse or lose
_OPENPYXL_SPECIAL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")


def _escape_control(match: re.Match) -> str:
    text = match.group(0)
    return f"_x{ord(text):04X}_" if len(text) == 1 else "_x005F" + text


class Sheet:
    """Rows of one table; continues on further sheets past Excel's row limit."""

    def __init__(
        self,
        book: StreamingWorkbook,
        name: str,
        header: Sequence[Any] | None,
        *,
        reserved: bool = False,
    ):
        self.book = book
        self.reserved = reserved
        self.base_name = name
        self.header = list(header) if header is not None else None
        self.width = len(header) if header is not None else 0
        self.letters: list[str] = []
        self._cache: dict[str, str] = {}
        self._parts: list[tuple[str, IO[bytes]]] = []
        self._buffer: list[str] = []
        self._row = 0
        self._open_part()

    def _ensure_letters(self, width: int) -> None:
        if width > MAX_COLUMNS:
            raise SpreadsheetLimitError(
                f"Sheet {self.base_name!r} would have {width} columns; Excel allows {MAX_COLUMNS}."
            )
        while len(self.letters) < width:
            self.letters.append(column_letter(len(self.letters)))

    def _open_part(self) -> None:
        name = self.book._register(self, self.base_name)
        stream = self.book._stream_for(self)
        self._parts.append((name, stream))
        self._row = 0
        pane = ""
        if self.header is not None:
            pane = (
                '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
            )
        stream.write(
            (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">{pane}<sheetData>'
            ).encode()
        )
        if self.header is not None:
            self._ensure_letters(len(self.header))
            self.append(self.header, style=STYLE_HEADER)

    @property
    def name(self) -> str:
        """The (first) sheet's name in the workbook."""
        return self._parts[0][0]

    @property
    def stream(self) -> IO[bytes]:
        return self._parts[-1][1]

    def append(self, values: Sequence[Any], style: int = 0) -> None:
        """Write a row: str, int, float, bool, date, datetime, time or None per cell."""
        if self._row >= MAX_ROWS:
            self.flush()
            self._close_part()
            self._open_part()
        self._row += 1
        rn = str(self._row)
        if len(values) > len(self.letters):
            self._ensure_letters(len(values))
        letters = self.letters
        cache = self._cache
        parts = self._buffer
        parts.append(f'<row r="{rn}">')
        style_attr = f' s="{style}"' if style else ""
        for c, value in enumerate(values):
            if value is None:
                continue
            kind = value.__class__
            if kind is str:
                if not value:
                    continue
                fragment = cache.get(value)
                if fragment is None:
                    fragment = _string_fragment(value)
                    if style:
                        fragment = fragment.replace('" t=', f'"{style_attr} t=', 1)
                    elif len(value) <= _STRING_CACHE_MAX_LEN and len(cache) < _STRING_CACHE_LIMIT:
                        cache[value] = fragment
                parts.append(f'<c r="{letters[c]}{rn}{fragment}')
            elif kind is int:
                if -(2**53) < value < 2**53:
                    parts.append(f'<c r="{letters[c]}{rn}"{style_attr}><v>{value}</v></c>')
                else:
                    parts.append(f'<c r="{letters[c]}{rn}{_string_fragment(str(value))}')
            elif kind is bool:
                parts.append(f'<c r="{letters[c]}{rn}" t="b"><v>{int(value)}</v></c>')
            elif kind is float:
                if math.isfinite(value):
                    parts.append(f'<c r="{letters[c]}{rn}"{style_attr}><v>{value!r}</v></c>')
                else:
                    parts.append(f'<c r="{letters[c]}{rn}{_string_fragment(str(value))}')
            elif kind is datetime or kind is date:
                serial = excel_serial(value)
                if serial is None:
                    parts.append(f'<c r="{letters[c]}{rn}{_string_fragment(value.isoformat())}')
                else:
                    fmt = STYLE_DATE if kind is date else STYLE_DATETIME
                    parts.append(f'<c r="{letters[c]}{rn}" s="{fmt}"><v>{serial!r}</v></c>')
            elif kind is time:
                fraction = (
                    value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
                ) / 86400
                parts.append(f'<c r="{letters[c]}{rn}" s="{STYLE_TIME}"><v>{fraction!r}</v></c>')
            else:
                parts.append(f'<c r="{letters[c]}{rn}{_string_fragment(str(value))}')
        parts.append("</row>")
        if len(parts) > 4096:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.stream.write("".join(self._buffer).encode("utf-8"))
            self._buffer.clear()

    def _close_part(self) -> None:
        self.stream.write(b"</sheetData></worksheet>")
        self.book._part_done(self, self._parts[-1])

    def close(self) -> None:
        self.flush()
        self._close_part()


class StreamingWorkbook:
    """Sheets in the order they are added. The first sheet is written into the zip as its
    rows come (close it before any other sheet's part is copied in); others are spooled."""

    def __init__(self, *, compresslevel: int = 1, reserved: Sequence[str] = ()):
        self.archive = ZipStream(compresslevel=compresslevel)
        self._reserved = list(reserved)
        self._names: list[str] = []
        self._files: list[str] = []
        self._direct: Sheet | None = None
        self._direct_open = False
        self._spooled: list[tuple[str, IO[bytes]]] = []
        self._first: Sheet | None = None

    def _register(self, sheet: Sheet, base: str) -> str:
        if sheet.reserved and base in self._reserved:
            self._reserved.remove(base)
        name = unique_sheet_name(base, self._names + self._reserved)
        self._names.append(name)
        self._files.append(f"xl/worksheets/sheet{len(self._names)}.xml")
        return name

    def _stream_for(self, sheet: Sheet) -> IO[bytes]:
        path = self._files[-1]
        if self._first is None:
            self._first = sheet
        if sheet is self._first and not self._direct_open and self._direct is None:
            self._direct = sheet
            self._direct_open = True
            return self.archive.open(path)
        spool = self.archive.spool()
        self._spooled.append((path, spool))
        return spool

    def _part_done(self, sheet: Sheet, part: tuple[str, IO[bytes]]) -> None:
        if sheet is self._direct and self._direct_open and part[1] is sheet._parts[0][1]:
            part[1].close()
            self._direct_open = False

    def add_sheet(
        self, name: str, header: Sequence[Any] | None = None, *, reserved: bool = False
    ) -> Sheet:
        """A new sheet; `reserved`: it takes a name given in `reserved` to the workbook."""
        return Sheet(self, name, header, reserved=reserved)

    @property
    def pending(self) -> int:
        return self.archive.pending

    def take(self) -> bytes:
        return self.archive.take()

    def finish(self) -> Iterator[bytes]:
        """Copy the spooled sheets in, write the workbook parts; yields byte chunks."""
        if self._direct_open:
            raise RuntimeError("close the first sheet before finishing the workbook")
        for path, spool in self._spooled:
            for _ in self.archive.copy_spooled(path, spool):
                if self.archive.pending >= 1 << 16:
                    yield self.archive.take()
        self._spooled.clear()
        self.archive.writestr("xl/workbook.xml", self._workbook_xml())
        self.archive.writestr("xl/_rels/workbook.xml.rels", self._workbook_rels())
        self.archive.writestr("xl/styles.xml", _STYLES.encode())
        self.archive.writestr("_rels/.rels", _ROOT_RELS.encode())
        self.archive.writestr("[Content_Types].xml", self._content_types())
        yield self.archive.close()

    def discard(self) -> None:
        """Drop what is left: spooled sheets, and the archive unless it was finished."""
        for _, spool in self._spooled:
            spool.close()
        self._spooled.clear()
        self.archive.discard()

    def _workbook_xml(self) -> bytes:
        sheets = "".join(
            f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self._names, start=1)
        )
        return (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{NS_MAIN}" xmlns:r="{NS_REL}">'
            f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>"
        ).encode()

    def _workbook_rels(self) -> bytes:
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{NS_REL}/worksheet" Target="{path[len("xl/") :]}"/>'
            for i, path in enumerate(self._files, start=1)
        )
        n = len(self._files) + 1
        rels += f'<Relationship Id="rId{n}" Type="{NS_REL}/styles" Target="styles.xml"/>'
        return (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Relationships xmlns="{NS_PKG_REL}">{rels}</Relationships>'
        ).encode()

    def _content_types(self) -> bytes:
        overrides = "".join(
            f'<Override PartName="/{path}" ContentType="{CT_SHEET}"/>' for path in self._files
        )
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{overrides}</Types>"
        ).encode()


_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{NS_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)

_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{NS_MAIN}">'
    '<numFmts count="3">'
    '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/>'
    '<numFmt numFmtId="166" formatCode="hh:mm:ss"/>'
    "</numFmts>"
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

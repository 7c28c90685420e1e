"""XLSForm uploads are bounded once unzipped (size and cells) before pyxform reads them."""

from __future__ import annotations

import io
import zipfile

import pytest

from forms.compile import (
    MAX_XLS_BYTES,
    MAX_XLSFORM_CELLS,
    MAX_XLSFORM_UNZIPPED_BYTES,
    FormCompileError,
    compile_xlsform,
)
from tests.xlsforms import simple_form


def with_extra_sheet(xlsx: bytes, name: str, content_chunks) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with target.open(name, "w", force_zip64=True) as entry:
            for chunk in content_chunks:
                entry.write(chunk)
    return out.getvalue()


def inflating_bomb() -> bytes:
    chunk = b" " * (1 << 20)
    count = MAX_XLSFORM_UNZIPPED_BYTES // len(chunk) + 2
    return with_extra_sheet(simple_form(), "xl/worksheets/sheet9.xml", (chunk for _ in range(count)))


def test_an_upload_that_inflates_past_the_limit_is_refused_before_pyxform() -> None:
    bomb = inflating_bomb()
    assert len(bomb) < 1_000_000
    with pytest.raises(FormCompileError) as refused:
        compile_xlsform(bomb, validate=False)
    assert refused.value.kind == "xlsform-invalid"
    assert "MiB" in str(refused.value)


def test_an_upload_with_too_many_cells_is_refused() -> None:
    row = b'<c r="A1" t="inlineStr"><is><t>x</t></is></c>' * 1000
    rows = (row for _ in range(MAX_XLSFORM_CELLS // 1000 + 1))
    many = with_extra_sheet(simple_form(), "xl/worksheets/sheet9.xml", rows)
    with pytest.raises(FormCompileError) as refused:
        compile_xlsform(many, validate=False)
    assert "cells" in str(refused.value)


def test_an_ordinary_form_still_compiles() -> None:
    assert compile_xlsform(simple_form(), validate=False).xml_form_id == "simple"


def xls_form(far_cell: bool) -> bytes:
    """An .xls (old Excel) XLSForm, written by xlwt; `far_cell` adds one cell at IV65536."""
    import xlwt

    book = xlwt.Workbook()
    survey = book.add_sheet("survey")
    rows = zip(("type", "name", "label"), ("text", "q", "Q"), strict=True)
    for column, (head, value) in enumerate(rows):
        survey.write(0, column, head)
        survey.write(1, column, value)
    if far_cell:
        survey.write(65535, 255, "x")
    settings = book.add_sheet("settings")
    settings.write(0, 0, "form_id")
    settings.write(1, 0, "old_excel")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xls_form_compiles() -> None:
    assert compile_xlsform(xls_form(False), file_type="xls", validate=False).xml_form_id == (
        "old_excel"
    )


def test_a_tiny_xls_that_spans_a_huge_grid_is_refused_before_pyxform() -> None:
    # 6 KB on disk; pyxform's xlrd pads it to 65,536 × 256 cells (~200 MB resident).
    sparse = xls_form(True)
    assert len(sparse) < 10_000
    with pytest.raises(FormCompileError) as refused:
        compile_xlsform(sparse, file_type="xls", validate=False)
    assert refused.value.kind == "xlsform-invalid"
    assert f"{MAX_XLSFORM_CELLS} cells" in str(refused.value)


def test_an_xls_over_the_size_cap_is_refused_unread() -> None:
    with pytest.raises(FormCompileError) as refused:
        compile_xlsform(b"\xd0\xcf\x11\xe0" + b"\0" * MAX_XLS_BYTES, file_type="xls",
                        validate=False)
    assert "MiB" in str(refused.value)

"""XLSForm uploads are bounded once unzipped (size and cells) before pyxform reads them."""

from __future__ import annotations

import io
import zipfile

import pytest

from forms.compile import (
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

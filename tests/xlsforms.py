"""Write small XLSForms for tests as real .xlsx bytes (what coordinators upload)."""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    """sheets: sheet name -> rows (the first row is the header)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def simple_form(form_id: str = "simple", version: str = "1", extra_rows=(), title=None) -> bytes:
    return xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label"],
                ["integer", "age", "Age"],
                ["select_one yn", "ok", "OK?"],
                ["text", "comment", "Comment"],
                *extra_rows,
            ],
            "choices": [["list_name", "name", "label"], ["yn", "yes", "Yes"], ["yn", "no", "No"]],
            "settings": [
                ["form_id", "version", "form_title"],
                [form_id, version, title or f"Form {form_id}"],
            ],
        }
    )


def photo_and_signature_form(form_id: str, version: str = "1") -> bytes:
    """A place (text), a photo and a signature (an image with the `signature` appearance)."""
    return xlsx_bytes({
        "survey": [["type", "name", "label", "appearance", "parameters"],
                   ["text", "place", "Place", None, None],
                   ["image", "photo", "Photo", None, "max-pixels=1024"],
                   ["image", "sign", "Signature of the client", "signature", "max-pixels=1024"]],
        "settings": [["form_id", "version"], [form_id, version]],
    })


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

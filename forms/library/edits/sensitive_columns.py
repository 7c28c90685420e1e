"""Mark the questions that identify a person (issue 24), reproducibly, with openpyxl.

Adds the survey sheet's `sensitive` column (yes on the rows below, empty elsewhere) and bumps
the version of each form it changes. forms/compile.py turns the column into the bind attribute
`fs:sensitive`; readers without the permission `sensitive.read` see `[masked]` there.

The bundled forms ask no name, phone number, address or exact birth date and take no photo
(forms/README.md, "No personal identifiers"); what identifies a person in them is where an
interview happened (a household's GPS point is its address) and the free-text notes, where a
worker may still write a name or a number.

Run from the repository root:  .venv/bin/python forms/library/edits/sensitive_columns.py
It is idempotent: the column is rewritten from the table below each time.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

LIBRARY = Path(__file__).resolve().parents[1]
VERSION = "2026120801"

SENSITIVE: dict[str, tuple[str, ...]] = {
    "community_awareness": ("location_gps", "interviewer_notes"),
    "departure_point_consultation": ("location_gps", "consultation_notes"),
    "hotline_call": ("call_notes",),
    "support_center_followup": ("visit_notes",),
    "support_center_intake": (),
    "risk_screening": (),
}


def mark(form_id: str, names: tuple[str, ...]) -> None:
    path = LIBRARY / f"{form_id}.xlsx"
    book = load_workbook(path)
    survey = book["survey"]
    header = [cell.value for cell in survey[1]]
    if "sensitive" in header:
        column = header.index("sensitive") + 1
    elif not names:
        return
    else:
        column = len(header) + 1
        survey.cell(row=1, column=column, value="sensitive")
        survey.cell(row=1, column=column)._style = survey.cell(row=1, column=1)._style
    name_column = header.index("name") + 1
    found = set()
    for row in range(2, survey.max_row + 1):
        name = survey.cell(row=row, column=name_column).value
        value = "yes" if name in names else None
        found.update({name} & set(names))
        survey.cell(row=row, column=column, value=value)
    missing = set(names) - found
    if missing:
        raise SystemExit(f"{form_id}: no question named {sorted(missing)}")
    settings = book["settings"]
    settings_header = [cell.value for cell in settings[1]]
    settings.cell(row=2, column=settings_header.index("version") + 1, value=VERSION)
    book.save(path)


if __name__ == "__main__":
    for form_id, names in SENSITIVE.items():
        mark(form_id, names)

"""Ask for the person's consent to share the case (issue 26), reproducibly, with openpyxl:
`support_center_intake.xlsx` gets `consent_share` (yes/no, required), saved to the case as the
property `consent_share`. A referral or transfer of the case to another centre or a service is
refused unless it is `yes` (or a manager overrides it with a reason: api/services/cases.py).

Run from the repository root:  .venv/bin/python forms/library/edits/consent_share.py
It is idempotent: the row is added after `consent_services` once, and the version set.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

LIBRARY = Path(__file__).resolve().parents[1]
INTAKE = LIBRARY / "support_center_intake.xlsx"
VERSION = "2026120801"
QUESTION = {
    "type": "select_one yes_no",
    "name": "consent_share",
    "label::English (en)": "Has the client (or guardian) agreed that the case may be shared with "
                           "another support centre or service (a referral or transfer)?",
    "label::Russian (ru)": "Согласен ли клиент (или законный представитель) на передачу "
                           "сведений о случае другому центру помощи или службе (направление "
                           "или передача случая)?",
    "label::Tajik (tg)": "Оё мизоҷ (ё намояндаи қонунӣ) розӣ аст, ки маълумоти парванда ба "
                         "маркази дигари кӯмак ё хадамот дода шавад (равон кардан ё супоридани "
                         "парванда)?",
    "required": "yes",
    "save_to": "consent_share",
}


def main() -> None:
    book = load_workbook(INTAKE)
    survey = book["survey"]
    header = [c.value for c in survey[1]]
    names = [row[header.index("name")].value for row in survey.iter_rows(min_row=2)]
    if QUESTION["name"] not in names:
        at = names.index("consent_services") + 3  # the row after it (1-based, header first)
        survey.insert_rows(at)
        for column, value in QUESTION.items():
            survey.cell(row=at, column=header.index(column) + 1, value=value)
    settings = book["settings"]
    columns = [c.value for c in settings[1]]
    settings.cell(row=2, column=columns.index("version") + 1, value=VERSION)
    book.save(INTAKE)


if __name__ == "__main__":
    main()

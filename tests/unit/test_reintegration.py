"""Reintegration counts (exports/reintegration.py): what is counted where, zeros included."""

from __future__ import annotations

import pytest

from exports.disclosure import protect
from exports.reintegration import quarter_of, reintegration_table

CASES = [
    {"centre": "dushanbe", "opened": "2026-01-15", "stage": "in_shelter", "status": "open"},
    {"centre": "dushanbe", "opened": "2026-05-02", "stage": "vocational_training",
     "status": "open"},
    {"centre": "khujand", "opened": "2026-02-20", "stage": "case_closed", "status": "closed",
     "close_reason": "reintegrated", "last_visit": "2026-07-01"},
    {"centre": "khujand", "opened": "2025-12-30", "stage": "returned_to_family",
     "status": "open"},
    {"centre": "", "opened": "not a date", "stage": "bogus", "status": "open"},
]


@pytest.mark.parametrize(("text", "quarter"), [
    ("2026-01-01", "2026-Q1"), ("2026-03-31", "2026-Q1"), ("2026-04-01", "2026-Q2"),
    ("2026-12-31T10:00:00", "2026-Q4"), ("", None), (None, None), ("31.12.2026", None),
])
def test_quarter_of(text, quarter) -> None:
    assert quarter_of(text) == quarter


def test_opened_by_centre_and_quarter_fills_every_quarter_between() -> None:
    table = reintegration_table(CASES, "opened", ("centre", "quarter"))
    assert table.total == 5
    assert table.margins[1] == {"2025-Q4": 1, "2026-Q1": 2, "2026-Q2": 1, "unknown": 1}
    assert table.cells[("dushanbe", "2026-Q1")] == 1
    assert table.cells[("other", "2026-Q1")] == 0
    assert table.cells[("unknown", "unknown")] == 1
    assert table.margins[0] == {"dushanbe": 2, "khujand": 2, "other": 0, "unknown": 1}


def test_active_and_closed() -> None:
    active = reintegration_table(CASES, "active", ("stage",))
    assert active.total == 4 and active.cells[("case_closed",)] == 0
    assert active.cells[("unknown",)] == 1 and active.margins == ()
    closed = reintegration_table(CASES, "closed", ("close_reason", "quarter"))
    assert closed.total == 1 and closed.cells[("reintegrated", "2026-Q3")] == 1
    with pytest.raises(ValueError):
        reintegration_table(CASES, "active", ("quarter",))
    with pytest.raises(ValueError):
        reintegration_table(CASES, "opened", ("centre", "stage", "sex"))
    with pytest.raises(ValueError):
        reintegration_table(CASES, "opened", ("case_code",))


def test_small_counts_are_protected() -> None:
    shown = protect(reintegration_table(CASES, "opened", ("centre", "stage")), 5)
    assert all(n is None or n == 0 or n >= 5 for n in shown.cells.values())
    assert shown.total is None or shown.total >= 5

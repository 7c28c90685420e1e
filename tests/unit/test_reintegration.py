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
# each case with a record key (exports/disclosure.py), as the service gives them
KEYED = [(0x9E3779B9 * (i + 1) % 2**32, case) for i, case in enumerate(CASES)]


def counts(table):
    """The true counts of a table's cells, margins and total."""
    return ({key: c.n for key, c in table.cells.items()},
            tuple({v: c.n for v, c in m.items()} for m in table.margins), table.total.n)


@pytest.mark.parametrize(("text", "quarter"), [
    ("2026-01-01", "2026-Q1"), ("2026-03-31", "2026-Q1"), ("2026-04-01", "2026-Q2"),
    ("2026-12-31T10:00:00", "2026-Q4"), ("", None), (None, None), ("31.12.2026", None),
])
def test_quarter_of(text, quarter) -> None:
    assert quarter_of(text) == quarter


def test_opened_by_centre_and_quarter_fills_every_quarter_between() -> None:
    cells, margins, total = counts(reintegration_table(KEYED, "opened", ("centre", "quarter")))
    assert total == 5
    assert margins[1] == {"2025-Q4": 1, "2026-Q1": 2, "2026-Q2": 1, "unknown": 1}
    assert cells[("dushanbe", "2026-Q1")] == 1
    assert cells[("other", "2026-Q1")] == 0
    assert cells[("unknown", "unknown")] == 1
    assert margins[0] == {"dushanbe": 2, "khujand": 2, "other": 0, "unknown": 1}


def test_active_and_closed() -> None:
    cells, margins, total = counts(reintegration_table(KEYED, "active", ("stage",)))
    assert total == 4 and cells[("case_closed",)] == 0
    assert cells[("unknown",)] == 1 and margins == ()
    cells, _, total = counts(reintegration_table(KEYED, "closed", ("close_reason", "quarter")))
    assert total == 1 and cells[("reintegrated", "2026-Q3")] == 1
    with pytest.raises(ValueError):
        reintegration_table(KEYED, "active", ("quarter",))
    with pytest.raises(ValueError):
        reintegration_table(KEYED, "opened", ("centre", "stage", "sex"))
    with pytest.raises(ValueError):
        reintegration_table(KEYED, "opened", ("case_code",))


def test_small_counts_are_protected() -> None:
    shown = protect(reintegration_table(KEYED, "opened", ("centre", "stage")), 5)
    assert all(n is None or n >= 5 for n in shown.cells.values())
    assert shown.total is None or shown.total >= 5


def test_the_same_cases_publish_the_same_value_whatever_table_reaches_them() -> None:
    """Cell keys: a cell is its set of cases. 40 cases of one centre give one published value
    for that centre whether the table is by centre alone or its margin in centre x stage."""
    many = [(0x9E3779B9 * (i + 1) % 2**32,
             {"centre": "dushanbe", "opened": "2026-01-15",
              "stage": ("in_shelter", "receiving_services")[i % 2], "status": "open"})
            for i in range(40)]
    alone = protect(reintegration_table(many, "opened", ("centre",)), 5)
    crossed = protect(reintegration_table(many, "opened", ("centre", "stage")), 5)
    assert alone.cells[("dushanbe",)] == crossed.margins[0]["dushanbe"] == alone.total
    assert abs(alone.total - 40) <= 3


def test_one_mistyped_year_does_not_make_thousands_of_empty_quarters() -> None:
    cases = [(1, {"centre": "dushanbe", "opened": "0001-01-01", "status": "open"}),
             (2, {"centre": "dushanbe", "opened": "2026-05-02", "status": "open"}),
             (3, {"centre": "khujand", "opened": "9999-12-31", "status": "open"})]
    table = reintegration_table(cases, "opened", ("centre", "quarter"))
    quarters = {key[1] for key in table.cells}
    assert quarters == {"0001-Q1", "2026-Q2", "9999-Q4"}
    near = reintegration_table(cases[1:2] + [(4, {"opened": "2027-02-01", "status": "open"})],
                               "opened", ("quarter",))
    assert [key[0] for key in near.cells] == ["2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1"]

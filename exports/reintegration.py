"""Reintegration counts for ministries: support-centre cases (the `cases` entity list) opened,
active and closed, by centre, quarter, reintegration stage and the case's other coded
properties. Pure: case states in, a disclosure-control CountTable out (exports/disclosure.py
protects it). Each case counts once, so every dimension is single-valued; no case code, label
or date finer than a quarter ever leaves this module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from exports.disclosure import EMPTY, Cell, CountTable, complete_cells
from forms.vocabulary import REGIONS

MEASURES = ("opened", "active", "closed")
UNKNOWN = "unknown"
# The coded values of each dimension, in display order (forms/library/support_center_*.xlsx);
# `quarter` values come from the data.
VALUES: dict[str, tuple[str, ...]] = {
    "centre": ("dushanbe", "khujand", "other"),
    "stage": ("in_shelter", "receiving_services", "vocational_training", "employed_or_studying",
              "returned_to_family", "case_closed"),
    "close_reason": ("reintegrated", "referred", "no_contact", "declined"),
    "region": REGIONS,
    "sex": ("female", "male", "other", "refused"),
    "age_band": ("under_18", "18_24", "25_34", "35_49", "50_plus"),
}
DIMENSIONS = ("quarter", *VALUES)


def quarter_of(text: str | None) -> str | None:
    """'2026-05-04' -> '2026-Q2'; None when not a date."""
    try:
        day = date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"


def _counted(case: Mapping[str, str], measure: str) -> bool:
    closed = case.get("status") == "closed"
    if measure == "active":
        return not closed
    if measure == "closed":
        return closed
    return True


def _value(case: Mapping[str, str], dim: str, measure: str) -> str:
    if dim == "quarter":
        # opened: the quarter the case was opened; closed: the quarter of the closing visit
        when = case.get("opened") if measure == "opened" else case.get("last_visit")
        return quarter_of(when) or UNKNOWN
    value = (case.get(dim) or "").strip()
    return value if value in VALUES[dim] else UNKNOWN


# Quarters with no case are filled in between the first and the last found, up to this many
# in all: one mistyped date (0001-01-01 beside 2026) would otherwise make a table of 40,000
# empty quarters; beyond it, only the quarters found are listed.
MAX_FILLED_QUARTERS = 200


def _quarters_between(found: set[str]) -> list[str]:
    known = sorted(q for q in found if q != UNKNOWN)
    if not known:
        return sorted(found)
    (y0, q0), (y1, q1) = (tuple(int(p) for p in known[i].split("-Q")) for i in (0, -1))
    if (y1 - y0) * 4 + (q1 - q0) >= MAX_FILLED_QUARTERS:
        return known + ([UNKNOWN] if UNKNOWN in found else [])
    out = []
    y, q = y0, q0
    while (y, q) <= (y1, q1):
        out.append(f"{y}-Q{q}")
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out + ([UNKNOWN] if UNKNOWN in found else [])


def reintegration_table(
    cases: Iterable[tuple[int, Mapping[str, str]]], measure: str, by: Sequence[str]
) -> CountTable:
    """The counts of `measure` by up to two dimensions, zeros included, with totals. Each case
    comes with its record key (the cell-key method of exports/disclosure.py): a cell is the
    set of its cases, so the same cases always publish the same value."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}")
    if len(by) > 2 or len(set(by)) != len(by) or any(d not in DIMENSIONS for d in by):
        raise ValueError(f"by takes up to two of {', '.join(DIMENSIONS)}")
    if measure == "active" and "quarter" in by:
        raise ValueError("active cases are counted as they are now, not by quarter")
    counted = [(rk, c) for rk, c in cases if _counted(c, measure)]
    keys: dict[tuple, Cell] = {}
    for record_key, case in counted:
        key = tuple(_value(case, d, measure) for d in by)
        keys[key] = keys.get(key, EMPTY) + Cell(1, record_key)
    dims_values = []
    for i, dim in enumerate(by):
        found = {key[i] for key in keys}
        if dim == "quarter":
            dims_values.append(_quarters_between(found))
        else:
            dims_values.append([*VALUES[dim], *([UNKNOWN] if UNKNOWN in found else [])])
    cells = complete_cells(dims_values, keys)
    margins: tuple = ()
    if len(by) == 2:
        margins = tuple(
            {v: sum((c for key, c in cells.items() if key[i] == v), EMPTY) for v in dims_values[i]}
            for i in range(2)
        )
    total = sum((Cell(1, rk) for rk, _ in counted), EMPTY)
    return CountTable(dims=tuple(by), multi=(False,) * len(by), cells=cells, margins=margins,
                      total=total)

"""Disclosure control (exports/disclosure.py): tables of cases, and random tables built from
random people, audited by an independent integer program: for every suppressed entry, the
smallest and largest value consistent with everything shown (and with what anyone knows:
counts are whole numbers, a suppressed count is at least 1, a part is never more than its
whole) must differ."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from exports.disclosure import (
    CountTable,
    complete_cells,
    guard_districts,
    is_protected,
    other_districts_label,
    protect,
    suppressed_entries,
)

# --- building tables from people ----------------------------------------------------------


def table_from_people(people, dims, domains, multi) -> CountTable:
    """people: list of dicts dim -> value (single) or frozenset (multi)."""

    def has(person, i, value):
        got = person[dims[i]]
        return value in got if multi[i] else got == value

    counts: dict[tuple, int] = {}
    for key in itertools.product(*[domains[d] for d in dims]) if dims else [()]:
        counts[key] = sum(1 for p in people if all(has(p, i, v) for i, v in enumerate(key)))
    margins: tuple = ()
    if len(dims) == 2:
        margins = tuple(
            {v: sum(1 for p in people if has(p, i, v)) for v in domains[dims[i]]} for i in range(2)
        )
    return CountTable(tuple(dims), tuple(multi), counts, margins, len(people))


# --- the independent audit -----------------------------------------------------------------


def relations(table: CountTable):
    """(equalities, inequalities) over entry ids, each as {entry: coefficient} meaning
    sum(coef * value) == 0 (equalities) or <= 0 (inequalities), derived from how the table was
    built, not from the module under test."""
    eqs, ineqs = [], []
    cells = list(table.cells)
    if len(table.dims) == 1:
        if not table.multi[0]:
            eqs.append({**{("cell", key): 1 for key in cells}, ("total",): -1})
        for key in cells:
            ineqs.append({("cell", key): 1, ("total",): -1})
    elif len(table.dims) == 2:
        for i in range(2):
            mine = list(table.margins[i])
            for u in mine:
                members = [key for key in cells if key[i] == u]
                if not table.multi[1 - i]:
                    eqs.append({**{("cell", key): 1 for key in members}, ("margin", i, u): -1})
                for key in members:
                    ineqs.append({("cell", key): 1, ("margin", i, u): -1})
            if not table.multi[i]:
                eqs.append({**{("margin", i, u): 1 for u in mine}, ("total",): -1})
            for u in mine:
                ineqs.append({("margin", i, u): 1, ("total",): -1})
    return eqs, ineqs


def value_range(table: CountTable, suppressed, entry) -> tuple[float, float]:
    """Smallest and largest integer value of `entry` given everything shown."""
    values = table.entries()
    unknown = sorted(suppressed, key=repr)
    index = {e: i for i, e in enumerate(unknown)}
    eqs, ineqs = relations(table)
    constraints = []
    for rows, lower in ((eqs, 0), (ineqs, -np.inf)):
        for row in rows:
            coef = np.zeros(len(unknown))
            known = 0.0
            for e, c in row.items():
                if e in index:
                    coef[index[e]] += c
                else:
                    known += c * values[e]
            if not coef.any():
                continue
            constraints.append(LinearConstraint(coef, lower - known, -known))
    bounds = Bounds(np.ones(len(unknown)), np.full(len(unknown), np.inf))
    integrality = np.ones(len(unknown))
    result = []
    for sign in (1, -1):
        c = np.zeros(len(unknown))
        c[index[entry]] = sign
        res = milp(c, constraints=constraints, bounds=bounds, integrality=integrality)
        if res.status == 3 or (res.status != 0 and sign == -1):  # unbounded above
            result.append(np.inf if sign == -1 else -np.inf)
            continue
        assert res.status == 0, res.message
        result.append(sign * res.fun)
    return result[0], result[1]


def assert_safe(table: CountTable, k: int) -> None:
    protected = protect(table, k)
    values = table.entries()
    shown = {
        **{("cell", key): n for key, n in protected.cells.items()},
        **{("margin", i, v): n for i, m in enumerate(protected.margins) for v, n in m.items()},
        ("total",): protected.total,
    }
    for entry, n in shown.items():
        if n is None:
            assert entry in protected.suppressed
            assert values[entry] > 0, "zeros are shown"
        else:
            assert n == values[entry]
            assert n == 0 or n >= k, f"{entry} shows {n} < k={k}"
    for entry in protected.suppressed:
        low, high = value_range(table, protected.suppressed, entry)
        assert low <= values[entry] <= high
        assert high - low >= 1, f"{entry}={values[entry]} is recoverable exactly from what is shown"


# --- tables of cases -----------------------------------------------------------------------


def one_d(counts: dict[str, int], multi: bool = False, total: int | None = None) -> CountTable:
    return CountTable(
        ("region",), (multi,), {(v,): n for v, n in counts.items()},
        total=sum(counts.values()) if total is None else total,
    )


def test_a_single_small_cell_takes_the_next_smallest_with_it() -> None:
    table = one_d({"TJ-DU": 3, "TJ-SU": 20, "TJ-KT": 30, "TJ-GB": 0})
    protected = protect(table, 10)
    assert protected.cells == {("TJ-DU",): None, ("TJ-SU",): None, ("TJ-KT",): 30, ("TJ-GB",): 0}
    assert protected.total == 53
    assert_safe(table, 10)


def test_two_ones_are_not_left_to_be_read_off_the_total() -> None:
    # 1 + 1 suppressed with the total shown would pin both at 1: a third cell must go too
    table = one_d({"a": 1, "b": 1, "c": 50, "d": 60})
    suppressed = suppressed_entries(table, 5)
    assert ("cell", ("c",)) in suppressed and ("cell", ("d",)) not in suppressed
    assert_safe(table, 5)


def test_nothing_is_suppressed_when_every_count_is_large_or_zero() -> None:
    table = one_d({"a": 0, "b": 10, "c": 12})
    assert suppressed_entries(table, 10) == frozenset()


def test_a_small_grand_total_is_suppressed() -> None:
    table = one_d({"a": 4, "b": 0})
    protected = protect(table, 10)
    assert protected.total is None and protected.cells[("a",)] is None
    assert_safe(table, 10)


def test_multi_valued_cells_need_no_complement() -> None:
    # risk groups: a person counts in several, so the total is not their sum
    table = one_d({"CHILD": 3, "YOUTH": 40, "RETURNEE": 25}, multi=True, total=60)
    assert suppressed_entries(table, 10) == {("cell", ("CHILD",))}
    assert_safe(table, 10)


def test_two_d_table_protects_rows_columns_and_totals() -> None:
    people = (
        [{"region": "TJ-SU", "risk_level": "high"}] * 2
        + [{"region": "TJ-SU", "risk_level": "low"}] * 40
        + [{"region": "TJ-KT", "risk_level": "high"}] * 15
        + [{"region": "TJ-KT", "risk_level": "low"}] * 33
        + [{"region": "TJ-DU", "risk_level": "low"}] * 25
        + [{"region": "TJ-DU", "risk_level": "high"}] * 12
    )
    domains = {"region": ["TJ-SU", "TJ-KT", "TJ-DU"], "risk_level": ["low", "high"]}
    table = table_from_people(people, ["region", "risk_level"], domains, [False, False])
    protected = protect(table, 10)
    assert protected.cells[("TJ-SU", "high")] is None
    # the row and the column of the small cell each lose another cell, and the margins stay
    assert sum(v is None for (r, _), v in protected.cells.items() if r == "TJ-SU") == 2
    assert sum(v is None for (_, c), v in protected.cells.items() if c == "high") == 2
    assert protected.total == len(people)
    assert all(v is not None for m in protected.margins for v in m.values())
    assert_safe(table, 10)


def test_protection_check_sees_a_lonely_suppression() -> None:
    table = one_d({"a": 3, "b": 20, "c": 30})
    assert not is_protected(table, {("cell", ("a",))}, ("cell", ("a",)))
    assert is_protected(table, {("cell", ("a",)), ("cell", ("b",))}, ("cell", ("a",)))


def test_k_below_five_is_refused() -> None:
    with pytest.raises(ValueError):
        suppressed_entries(one_d({"a": 1}), 4)


# --- random tables -------------------------------------------------------------------------

DOMAINS = {
    "a": ["a1", "a2", "a3", "a4"],
    "b": ["b1", "b2", "b3"],
    "g": ["g1", "g2", "g3", "g4"],  # multi-valued
    "h": ["h1", "h2", "h3"],  # multi-valued
}
MULTI = {"a": False, "b": False, "g": True, "h": True}


@st.composite
def people_and_dims(draw):
    dims = draw(st.sampled_from([[], ["a"], ["g"], ["a", "b"], ["a", "g"], ["g", "a"], ["g", "h"]]))
    # few distinct profiles, repeated, so that small and large counts both occur
    profile = st.fixed_dictionaries(
        {
            "a": st.sampled_from(DOMAINS["a"]),
            "b": st.sampled_from(DOMAINS["b"]),
            "g": st.frozensets(st.sampled_from(DOMAINS["g"]), max_size=3),
            "h": st.frozensets(st.sampled_from(DOMAINS["h"]), max_size=2),
        }
    )
    groups = draw(st.lists(st.tuples(profile, st.integers(1, 25)), max_size=9))
    people = [p for p, times in groups for _ in range(times)]
    k = draw(st.sampled_from([5, 10]))
    return people, dims, k


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people_and_dims())
def test_random_tables_show_no_small_count_and_no_recoverable_suppression(case) -> None:
    people, dims, k = case
    table = table_from_people(people, dims, DOMAINS, [MULTI[d] for d in dims])
    assert_safe(table, k)


# --- the district guard --------------------------------------------------------------------

REGION_DISTRICTS = {"TJ-SU": ["SU-1", "SU-2", "SU-3"], "TJ-KT": ["KT-1", "KT-2"], "TJ-GB": ["GB-1"]}
REGION_OF = {d: r for r, ds in REGION_DISTRICTS.items() for d in ds}


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(REGION_OF)), st.integers(0, 120), min_size=1),
    st.sampled_from([5, 10]),
    st.booleans(),
)
def test_district_guard_merges_every_district_under_5k(counts, k, two_d) -> None:
    if two_d:
        cells = {}
        for d, n in counts.items():
            cells[(d, "low")] = n // 2
            cells[(d, "high")] = n - n // 2
        margins = (dict(counts), {"low": sum(n // 2 for n in counts.values()),
                                  "high": sum(n - n // 2 for n in counts.values())})
        table = CountTable(("district", "risk_level"), (False, False), cells, margins,
                           sum(counts.values()))
    else:
        table = CountTable(("district",), (False,), {(d,): n for d, n in counts.items()},
                           total=sum(counts.values()))
    guarded = guard_districts(table, REGION_OF, k)
    shown = {key[0] for key in guarded.cells}
    for district in shown:
        if district in REGION_OF:
            assert counts[district] >= 5 * k
        else:
            region = next(r for r in REGION_DISTRICTS if district == other_districts_label(r))
            merged = [d for d in counts if REGION_OF[d] == region and counts[d] < 5 * k]
            total = sum(n for key, n in guarded.cells.items() if key[0] == district)
            assert merged and total == sum(counts[d] for d in merged)
    assert sum(guarded.cells.values()) == sum(counts.values())
    assert guarded.total == table.total
    assert_safe(guarded, k)


def test_complete_cells_fills_zeros() -> None:
    assert complete_cells([["a", "b"], ["x"]], {("a", "x"): 3}) == {("a", "x"): 3, ("b", "x"): 0}
    assert complete_cells([], {(): 7}) == {(): 7}

"""The disclosure engine (exports/disclosure.py): the perturbation table, published values,
cells of sets of persons, the district guard. The attack suite against a live server is
tests/integration/test_disclosure_attacks.py."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.disclosure import (
    EMPTY,
    KEY_MODULUS,
    MAX_ADJUSTMENT,
    Cell,
    CountTable,
    adjustment,
    adjustment_row,
    complete_cells,
    guard_districts,
    method,
    method_notes,
    new_record_key,
    other_districts_label,
    protect,
    published,
    row_variance,
    shown_districts,
)

K = 10


def cell_of(keys: list[int]) -> Cell:
    return sum((Cell(1, key) for key in keys), EMPTY)


def test_perturbation_table_rows() -> None:
    for n in range(K, K + 10):
        row = adjustment_row(n, K)
        assert abs(sum(p for _, p in row) - 1) < 1e-9
        assert all(-MAX_ADJUSTMENT <= a <= MAX_ADJUSTMENT and n + a >= K for a, _ in row)
    general = dict(adjustment_row(100, K))
    assert set(general) == set(range(-MAX_ADJUSTMENT, MAX_ADJUSTMENT + 1))
    assert all(general[a] == pytest.approx(general[-a]) for a in general)  # unbiased
    assert adjustment_row(K - 1, K) == () and adjustment_row(0, K) == ()
    assert 0 < row_variance(100, K) < MAX_ADJUSTMENT**2


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(0, KEY_MODULUS - 1), st.sampled_from([5, 10, 20]))
def test_no_published_count_below_k_and_every_adjustment_within_d(n, key, k) -> None:
    value = published(Cell(n, key), k)
    if n < k:
        assert value is None  # none included: a published 0 would tell an empty group
    else:
        assert value >= k and abs(value - n) <= MAX_ADJUSTMENT


def test_the_same_persons_always_get_the_same_value() -> None:
    rng = random.Random(1)
    keys = [new_record_key() for _ in range(40)]
    assert all(0 <= k < KEY_MODULUS for k in keys)
    one = cell_of(keys)
    shuffled = keys[:]
    rng.shuffle(shuffled)
    # the same set, reached as the union of two disjoint cells in any order
    halves = cell_of(shuffled[:17]) + cell_of(shuffled[17:])
    assert halves == one and published(halves, K) == published(one, K)
    # the persons of a cell less those of a part of it: the cell of the rest
    assert one - cell_of(keys[:5]) == cell_of(keys[5:])


def test_adjustments_follow_the_table() -> None:
    """Over random cells the adjustments are drawn with the table's probabilities, and a
    person more or less gives an unrelated adjustment (a new draw, not a shift)."""
    rng = random.Random(7)
    seen: Counter = Counter()
    same = 0
    trials = 20_000
    for _ in range(trials):
        keys = [rng.randrange(KEY_MODULUS) for _ in range(30)]
        base = cell_of(keys)
        seen[adjustment(base, K)] += 1
        same += adjustment(base, K) == adjustment(base + Cell(1, rng.randrange(KEY_MODULUS)), K)
    for a, p in adjustment_row(100, K):
        assert abs(seen[a] / trials - p) < 0.015, (a, seen[a] / trials, p)
    agreement = sum(p * p for _, p in adjustment_row(100, K))  # chance two draws agree
    assert abs(same / trials - agreement) < 0.02


def test_k_below_five_is_refused() -> None:
    with pytest.raises(ValueError):
        published(Cell(20, 1), 4)


def test_protect_publishes_every_entry_as_a_cell_of_its_own() -> None:
    rng = random.Random(3)

    def people(n):
        return cell_of([rng.randrange(KEY_MODULUS) for _ in range(n)])

    cells = {("TJ-SU", "low"): people(40), ("TJ-SU", "high"): people(3), ("TJ-KT", "low"): people(25),
             ("TJ-KT", "high"): people(0)}
    margins = (
        {"TJ-SU": cells[("TJ-SU", "low")] + cells[("TJ-SU", "high")], "TJ-KT": cells[("TJ-KT", "low")]},
        {"low": cells[("TJ-SU", "low")] + cells[("TJ-KT", "low")], "high": cells[("TJ-SU", "high")]},
    )
    total = margins[0]["TJ-SU"] + margins[0]["TJ-KT"]
    table = protect(CountTable(("region", "risk_level"), (False, False), cells, margins, total), K)
    assert table.cells[("TJ-SU", "high")] is None and table.cells[("TJ-KT", "high")] is None
    assert ("cell", ("TJ-SU", "high")) in table.suppressed and ("cell", ("TJ-KT", "high")) in table.suppressed
    assert table.margins[1]["high"] is None
    assert table.total == published(total, K)
    assert table.margins[0]["TJ-KT"] == table.cells[("TJ-KT", "low")]  # the same persons
    assert all(v is None or v >= K for v in table.cells.values())


def test_method_is_stated_with_its_parameters() -> None:
    stated = method(K)
    assert stated["maxAdjustment"] == MAX_ADJUSTMENT and stated["k"] == K
    assert stated["variance"] == pytest.approx(row_variance(100, K), abs=1e-4)
    assert stated["perturbationTable"][0]["count"] == f"0 to {K - 1}"
    assert stated["perturbationTable"][1]["adjustments"] == {
        str(a): round(p, 4) for a, p in adjustment_row(K, K)
    }
    rows = [(key, text % values if values else text) for key, text, values in method_notes(K)]
    assert ("Maximum adjustment D", str(MAX_ADJUSTMENT)) in rows
    table = [text for key, text in rows if key == "Perturbation table"]
    assert len(table) == MAX_ADJUSTMENT + 1 and table[-1].startswith(f"count {K + MAX_ADJUSTMENT} or more: ")


REGION_DISTRICTS = {"TJ-SU": ["SU-1", "SU-2", "SU-3"], "TJ-KT": ["KT-1", "KT-2"], "TJ-GB": ["GB-1"]}
REGION_OF = {d: r for r, ds in REGION_DISTRICTS.items() for d in ds}


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(REGION_OF)), st.integers(0, 120), min_size=1),
    st.sampled_from([5, 10]),
    st.booleans(),
)
def test_district_guard_merges_every_district_under_5k(counts, k, two_d) -> None:
    rng = random.Random(sum(counts.values()))
    persons = {d: [Cell(1, rng.randrange(KEY_MODULUS)) for _ in range(n)] for d, n in counts.items()}
    district = {d: sum(p, EMPTY) for d, p in persons.items()}
    if two_d:
        cells = {}
        for d, p in persons.items():
            cells[(d, "low")] = sum(p[: len(p) // 2], EMPTY)
            cells[(d, "high")] = sum(p[len(p) // 2:], EMPTY)
        margins = (district, {"low": sum((cells[(d, "low")] for d in counts), EMPTY),
                              "high": sum((cells[(d, "high")] for d in counts), EMPTY)})
        table = CountTable(("district", "risk_level"), (False, False), cells, margins,
                           sum(district.values(), EMPTY))
    else:
        table = CountTable(("district",), (False,), {(d,): c for d, c in district.items()},
                           total=sum(district.values(), EMPTY))
    shown = shown_districts(district, k)
    guarded = guard_districts(table, REGION_OF, shown)
    for label in {key[0] for key in guarded.cells}:
        if label in REGION_OF:
            assert counts[label] >= 5 * k
        else:
            region = next(r for r in REGION_DISTRICTS if label == other_districts_label(r))
            merged = [d for d in counts if REGION_OF[d] == region and counts[d] < 5 * k]
            together = sum((c for key, c in guarded.cells.items() if key[0] == label), EMPTY)
            # a cell of its own: exactly the merged districts' persons
            assert merged and together == sum((district[d] for d in merged), EMPTY)
    assert sum(guarded.cells.values(), EMPTY) == sum(district.values(), EMPTY)
    assert guarded.total == table.total


def test_complete_cells_fills_empty_cells() -> None:
    assert complete_cells([["a", "b"], ["x"]], {("a", "x"): Cell(3, 9)}) == {("a", "x"): Cell(3, 9), ("b", "x"): EMPTY}
    assert complete_cells([], {(): Cell(7, 1)}) == {(): Cell(7, 1)}

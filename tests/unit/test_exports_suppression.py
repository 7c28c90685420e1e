"""exports.suppression: cases, and a property test that no suppressed count can be derived
from the shown cells and the totals (checked by an independent rank computation)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from exports.suppression import relations, suppress

K = 10


def with_totals(interior: list[list[int]]) -> list[list[int]]:
    rows = [[*row, sum(row)] for row in interior]
    return [*rows, [sum(col) for col in zip(*rows, strict=True)]]


def _rank(matrix: list[list[Fraction]]) -> int:
    matrix = [row[:] for row in matrix]
    rank = 0
    columns = len(matrix[0]) if matrix else 0
    for column in range(columns):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(rank + 1, len(matrix)):
            factor = matrix[r][column] / matrix[rank][column]
            matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def derivable(table, hidden, *, row_totals=True, column_totals=True) -> set:
    """Hidden cells whose value the relations fix: e_cell is in the row space of the
    relations restricted to hidden cells iff adding it does not raise the rank."""
    cells = sorted(hidden)
    at = {c: n for n, c in enumerate(cells)}
    shape = (len(table), len(table[0]))
    system = []
    for line in relations(shape, row_totals=row_totals, column_totals=column_totals):
        row = [Fraction(0)] * len(cells)
        for n, cell in enumerate(line):
            if cell in at:
                row[at[cell]] += -1 if n == len(line) - 1 else 1
        if any(row):
            system.append(row)
    base = _rank(system) if system else 0
    found = set()
    for cell in cells:
        unit = [Fraction(int(c == cell)) for c in cells]
        if _rank([*system, unit]) == base:
            found.add(cell)
    return found


def test_small_counts_and_their_complements() -> None:
    table = with_totals([[3, 20, 30], [40, 50, 60]])
    hidden = suppress(table, K)
    assert (0, 0) in hidden  # 3 < k
    assert len([c for c in hidden if c[0] == 0]) >= 2  # its row protected
    assert len([c for c in hidden if c[1] == 0]) >= 2  # its column protected
    assert derivable(table, hidden) == set()


def test_zero_is_shown_and_large_tables_untouched() -> None:
    table = with_totals([[0, 20], [15, 12]])
    assert suppress(table, K) == set()


def test_total_below_k_is_suppressed() -> None:
    table = with_totals([[2, 3], [0, 0]])
    hidden = suppress(table, K)
    assert {(0, 0), (0, 1), (0, 2), (2, 2)} <= hidden
    assert derivable(table, hidden) == set()


def test_locked_cells_keep_their_state() -> None:
    table = with_totals([[3, 30], [40, 50]])
    locked = {(2, 0): False, (2, 1): False, (2, 2): False}
    hidden = suppress(table, K, locked=locked)
    assert not hidden & set(locked)
    assert derivable(table, hidden) == set()


def test_rows_only_relations() -> None:
    # a select_multiple: choices do not add up, only each row to its total
    table = [[5, 30, 35], [12, 14, 26]]
    hidden = suppress(table, K, column_totals=False)
    assert (0, 0) in hidden and len([c for c in hidden if c[0] == 0]) == 2
    assert derivable(table, hidden, column_totals=False) == set()


tables = st.integers(1, 4).flatmap(
    lambda rows: st.integers(1, 4).flatmap(
        lambda columns: st.lists(
            st.lists(
                st.one_of(st.integers(0, 12), st.integers(0, 60)),
                min_size=columns,
                max_size=columns,
            ),
            min_size=rows,
            max_size=rows,
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_suppressed_count_can_be_derived(interior) -> None:
    table = with_totals(interior)
    hidden = suppress(table, K)
    for i, row in enumerate(table):
        for j, value in enumerate(row):
            if 0 < value < K:
                assert (i, j) in hidden
    assert derivable(table, hidden) == set(), (table, sorted(hidden))

"""Disclosure control for tables of counts: which cells must not be shown. Pure.

A table is a grid of non-negative counts. With `row_totals`, its last column holds each
row's total; with `column_totals`, its last row holds each column's total (the corner, when
both, is the grand total). Every such total is a relation: the cells of the line add up to it.

Rules (shared/spec/summaries.md):
1. Threshold: a non-zero count below k is suppressed (totals included).
2. Complementary suppression: a relation with exactly one suppressed cell would give that
   cell away by subtraction, so the smallest other cell of the relation is suppressed too
   (a non-zero one when there is one: a suppressed zero next to a 1 would tell the 1).
3. Audit: cells can still be derived through several relations at once (chains across rows
   and columns). Each suppressed cell is checked against the whole linear system of the
   table's relations; a cell the system determines gets its relations another suppressed
   cell, until none is determined.

`locked` fixes cells whose state another table decided (margins shared between tables):
True = suppressed, False = shown. Locked cells are never chosen as complements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

Cell = tuple[int, int]


def relations(shape: tuple[int, int], *, row_totals: bool, column_totals: bool) -> list[list[Cell]]:
    """Each relation as its cells, the total last: sum(cells[:-1]) == cells[-1]."""
    rows, columns = shape
    out: list[list[Cell]] = []
    if row_totals:
        for i in range(rows):
            out.append([(i, j) for j in range(columns)])
    if column_totals:
        for j in range(columns):
            out.append([(i, j) for i in range(rows)])
    return out


def _determined(
    suppressed: set[Cell], table: Sequence[Sequence[int]], lines: list[list[Cell]]
) -> list[Cell]:
    """Suppressed cells whose value the relations and the shown cells fix."""
    unknowns = sorted(suppressed)
    if not unknowns:
        return []
    position = {cell: n for n, cell in enumerate(unknowns)}
    matrix: list[list[Fraction]] = []
    for line in lines:
        coefficients = [Fraction(0)] * len(unknowns)
        touched = False
        for n, cell in enumerate(line):
            sign = -1 if n == len(line) - 1 else 1
            at = position.get(cell)
            if at is not None:
                coefficients[at] += sign
                touched = True
        if touched:
            matrix.append(coefficients)
    # row-reduce; a variable is determined iff its unit vector lies in the row space,
    # i.e. in the reduced matrix some row has a single non-zero entry in its column
    pivots: list[int] = []
    rank = 0
    width = len(unknowns)
    for column in range(width):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        lead = matrix[rank][column]
        matrix[rank] = [v / lead for v in matrix[rank]]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column] != 0:
                factor = matrix[r][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        pivots.append(column)
        rank += 1
    found = []
    for r, column in enumerate(pivots):
        if all(matrix[r][c] == 0 for c in range(width) if c != column):
            found.append(unknowns[column])
    return found


def suppress(
    table: Sequence[Sequence[int]],
    k: int,
    *,
    row_totals: bool = True,
    column_totals: bool = True,
    locked: Mapping[Cell, bool] | None = None,
    also: frozenset[Cell] | set[Cell] = frozenset(),
) -> set[Cell]:
    """The cells of `table` to suppress. `also`: cells to suppress from the start, as if
    they were under the threshold (e.g. cells whose complement is small)."""
    locked = dict(locked or {})
    rows = len(table)
    columns = len(table[0]) if rows else 0
    lines = relations((rows, columns), row_totals=row_totals, column_totals=column_totals)
    suppressed: set[Cell] = {
        (i, j)
        for i in range(rows)
        for j in range(columns)
        if (0 < table[i][j] < k or (i, j) in also) and locked.get((i, j), True)
    }
    suppressed |= {cell for cell, hidden in locked.items() if hidden}

    def complement(line: list[Cell]) -> bool:
        candidates = [c for c in line if c not in suppressed and c not in locked]
        if not candidates:
            return False
        nonzero = [c for c in candidates if table[c[0]][c[1]] > 0]
        pick = min(nonzero or candidates, key=lambda c: (table[c[0]][c[1]], c))
        suppressed.add(pick)
        return True

    while True:
        changed = False
        for line in lines:
            if sum(1 for c in line if c in suppressed) == 1 and complement(line):
                changed = True
        if changed:
            continue
        exposed = _determined(suppressed, table, lines)
        if not exposed:
            return suppressed
        progressed = False
        for cell in exposed:
            for line in lines:
                if cell in line and complement(line):
                    progressed = True
                    break
            if progressed:
                break
        if not progressed:
            # the exposed cells' own relations are all hidden or locked: widen to any
            # relation that holds a suppressed cell
            pool = [
                c
                for line in lines
                if any(x in suppressed for x in line)
                for c in line
                if c not in suppressed and c not in locked
            ]
            if not pool:
                return suppressed
            nonzero = [c for c in pool if table[c[0]][c[1]] > 0]
            suppressed.add(min(nonzero or pool, key=lambda c: (table[c[0]][c[1]], c)))

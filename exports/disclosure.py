"""The one disclosure-control engine (shared/spec/summaries.md, version 2). Pure.

Every count that a role without microdata sees (summary JSON, dashboard pages, summary
workbook, per-question reports, later aggregates) is a `Cell` published by `published()`:

- A cell is a set of persons: its true count `n` and the sum of its records' keys (`key`,
  mod 2^32). Every screening gets a random key when it is stored (api/ingest.py); cells of
  disjoint sets add (`a + b`), so a period's cell is the sum of its months' cells and "other
  districts of <region>" the sum of its districts', and each is still the cell of exactly its
  persons. Totals and margins are cells of their own, never sums of shown values.
- Threshold k: a cell with fewer than k persons (none included) is suppressed: it carries no
  number, so neither a published 0 nor a suppressed count tells an empty group from a small
  one.
- Cell-key perturbation (the method of the ABS TableBuilder and of the UK's Census 2021
  flexible tables): a cell with n >= k is published as n + adjustment, the adjustment read
  from a fixed perturbation table (`PERTURBATION`) at the row of n and the position of its
  cell key in [0, 1). The same persons therefore always get the same published value, whatever
  query reaches them. Adjustments lie in -D..D (D = `MAX_ADJUSTMENT`) and never bring a count
  under k.

An attacker is assumed to know all of this (`method()` states it in every response), but not
the keys.

To publish a new kind of table (see /work/notes/requests.md, "to entities: how to add a
table"): build its cells as `Cell(count, key_sum)` of the persons they count (the records'
`record_key`s, mod `KEY_MODULUS`), put them in a `CountTable` and call `protect(table, k)`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from forms.messages import N_  # noqa: F401 - exports.disclosure.N_ is imported by other modules

# the persons' side of the method (record keys and the cells they sum to) lives with the
# records, where db/ may import it too; re-exported here for every other user of the engine
from forms.record_key import EMPTY, KEY_BITS, KEY_MODULUS, Cell, new_record_key  # noqa: F401

MIN_K = 5
DISTRICT_GUARD_FACTOR = 5
OTHER_DISTRICTS = "other districts of {region}"
MAX_ADJUSTMENT = 3  # D
# The perturbation table's general row: the chance (per 1000) of each adjustment -D..D for a
# count of k + D or more. Rows for k..k+D-1 keep the adjustments that stay at or above k, in
# the same proportions.
PERTURBATION: tuple[int, ...] = (20, 100, 230, 300, 230, 100, 20)
METHOD_NAME = "cell-key perturbation with a threshold"




def adjustment_row(n: int, k: int) -> tuple[tuple[int, float], ...]:
    """The perturbation table's row for a true count n: (adjustment, probability) pairs. Empty
    for n < k (the cell is suppressed)."""
    if n < k:
        return ()
    allowed = [
        (adjustment, weight)
        for adjustment, weight in zip(range(-MAX_ADJUSTMENT, MAX_ADJUSTMENT + 1), PERTURBATION, strict=True)
        if n + adjustment >= k
    ]
    total = sum(w for _, w in allowed)
    return tuple((adjustment, weight / total) for adjustment, weight in allowed)


@lru_cache(maxsize=64)
def _thresholds(offset: int, k: int) -> tuple[tuple[int, int], ...]:
    """Cumulative bounds on the cell key (in key units) for the row of count k + offset."""
    row = adjustment_row(k + offset, k)
    bounds, running = [], 0.0
    for adjustment, p in row:
        running += p
        bounds.append((adjustment, round(running * KEY_MODULUS)))
    bounds[-1] = (bounds[-1][0], KEY_MODULUS)
    return tuple(bounds)


@lru_cache(maxsize=16)
def _rows(k: int) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """For each offset 0..D of a count from k: (upper bounds, adjustments) for bisection."""
    rows = []
    for offset in range(MAX_ADJUSTMENT + 1):
        bounds = _thresholds(offset, k)
        rows.append((tuple(upper for _, upper in bounds), tuple(adj for adj, _ in bounds)))
    return tuple(rows)


def adjustment(cell: Cell, k: int) -> int | None:
    """The adjustment of a cell with n >= k (None below k)."""
    value = published(cell, k)
    return None if value is None else value - cell.n


def published(cell: Cell, k: int) -> int | None:
    """What a role without microdata sees of a cell: None (suppressed) or a count >= k."""
    return publisher(k)(cell)


def row_variance(n: int, k: int) -> float:
    row = adjustment_row(n, k)
    mean = sum(a * p for a, p in row)
    return sum((a - mean) ** 2 * p for a, p in row)


def method(k: int) -> dict[str, Any]:
    """The method and its parameters, stated in every response under disclosure control."""
    rows = [
        {
            "count": (str(k + offset) if offset < MAX_ADJUSTMENT else f"{k + offset} or more"),
            "adjustments": {str(a): round(p, 4) for a, p in adjustment_row(k + offset, k)},
            "variance": round(row_variance(k + offset, k), 4),
        }
        for offset in range(MAX_ADJUSTMENT + 1)
    ]
    return {
        "method": METHOD_NAME,
        "k": k,
        "maxAdjustment": MAX_ADJUSTMENT,
        "variance": round(row_variance(k + MAX_ADJUSTMENT, k), 4),
        "perturbationTable": [{"count": f"0 to {k - 1}", "adjustments": None, "variance": None}, *rows],
        "additive": False,
        "description": method_text(k),
        "acrossPublications": ACROSS_PUBLICATIONS_TEXT,
    }


METHOD_TEXT = N_(
    "Counts of fewer than %(k)s persons (none included) are suppressed. Every other count is "
    "published as its true value plus an adjustment between -%(d)s and +%(d)s (variance "
    "%(variance)s), read from a fixed perturbation table at the position given by the sum of "
    "the random keys of the persons counted (cell-key method of the ABS TableBuilder and the UK "
    "Census 2021): the same persons always get the same published value, and no published count "
    "lies between 1 and %(below)s. Totals are perturbed cells of their own: tables need not add up."
)


ACROSS_PUBLICATIONS_TEXT = N_(
    "Record keys never change: the same persons get the same published value in every "
    "publication. A cell whose persons a revision changed gets one new value per such revision, "
    "so collecting every publication gives at most one value per distinct set of persons."
)


def method_values(k: int) -> dict[str, Any]:
    return {"k": k, "d": MAX_ADJUSTMENT, "variance": f"{row_variance(k + MAX_ADJUSTMENT, k):.2f}", "below": k - 1}


def method_text(k: int, translate: Callable[[str], str] | None = None) -> str:
    """The method in words; `translate` (a gettext) says it in the reader's language."""
    return (translate or str)(METHOD_TEXT) % method_values(k)


def method_notes(k: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The method as rows of a workbook's notes sheet: (key, text, values), key and text
    catalogue templates (exports/summary_xlsx.py shows them in the reader's language)."""
    notes = [
        (N_("Disclosure control"), N_("cell-key perturbation with a threshold"), {}),
        (N_("k (threshold)"), str(k), {}),
        (N_("Suppression"), N_("A cell marked x has fewer than %(k)s persons (possibly none)."), {"k": k}),
        (N_("Perturbation"), METHOD_TEXT, method_values(k)),
        (N_("Across publications"), ACROSS_PUBLICATIONS_TEXT, {}),
        (N_("Maximum adjustment D"), str(MAX_ADJUSTMENT), {}),
        (N_("Variance of the adjustment"), f"{row_variance(k + MAX_ADJUSTMENT, k):.2f}", {}),
    ]
    for offset in range(MAX_ADJUSTMENT + 1):
        row = ", ".join(f"{a:+d}: {p:.3f}" for a, p in adjustment_row(k + offset, k))
        text = N_("count %(count)s: %(adjustments)s") if offset < MAX_ADJUSTMENT else N_(
            "count %(count)s or more: %(adjustments)s")
        notes.append((N_("Perturbation table"), text, {"count": k + offset, "adjustments": row}))
    notes.append((N_("Districts"), N_("Districts with fewer than %(n)s persons in the publication are merged "
                                      "into 'other districts of <region>'."), {"n": DISTRICT_GUARD_FACTOR * k}))
    return notes


# --- tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountTable:
    """A table of cells with 0, 1 or 2 dimensions. `cells` maps a key (one value per
    dimension) to its cell and lists every cell the table shows, empty ones included.
    `margins[i]` maps each value of dimension i to its cell (2-D tables only). `multi` says,
    for every dimension, whether a person can count in several of its values."""

    dims: tuple[str, ...]
    multi: tuple[bool, ...]
    cells: Mapping[tuple, Cell]
    margins: tuple[Mapping[Any, Cell], ...] = ()
    total: Cell = EMPTY

    def __post_init__(self) -> None:
        if len(self.dims) > 2:
            raise ValueError("a table has at most two dimensions")
        if len(self.multi) != len(self.dims):
            raise ValueError("multi must say, for every dimension, whether it is multi-valued")
        if len(self.dims) == 2 and len(self.margins) != 2:
            raise ValueError("a 2-D table needs the totals of both dimensions")
        if len(self.dims) < 2 and self.margins:
            raise ValueError("only 2-D tables carry totals by dimension")


@dataclass(frozen=True)
class ProtectedTable:
    """What may be shown: counts, None where suppressed. `k` is None without disclosure
    control (roles with microdata: true counts)."""

    dims: tuple[str, ...]
    cells: dict[tuple, int | None]
    margins: tuple[dict[Any, int | None], ...]
    total: int | None
    suppressed: frozenset = field(default_factory=frozenset)  # ("cell", key), ("margin", i, v), ("total",)
    k: int | None = None


@lru_cache(maxsize=16)
def count_publisher(k: int) -> Callable[[int, int], int | None]:
    """`published` for one k, of a cell given as its count and key (for the thousands of
    rows of a table): the adjustment is the first entry of the count's row in the perturbation
    table whose upper bound on the cell key lies above the cell's key."""
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K}")
    rows = _rows(k)

    def value(n: int, key: int) -> int | None:
        if n < k:
            return None
        uppers, adjustments = rows[n - k if n - k < MAX_ADJUSTMENT else MAX_ADJUSTMENT]
        return n + adjustments[bisect_right(uppers, key % KEY_MODULUS)]

    return value


@lru_cache(maxsize=16)
def publisher(k: int) -> Callable[[Cell], int | None]:
    """`published` for one k."""
    value = count_publisher(k)
    return lambda cell: value(cell[0], cell[1])


def protected_table(dims: tuple[str, ...], values: Sequence[Sequence[Any]], shown: Mapping[tuple, int | None],
                    margins: Sequence[Mapping[Any, int | None]], total: int | None, k: int) -> ProtectedTable:
    """A table of published values (`published` of each cell), listing every combination of
    `values` and every value in its margins: one the table has no cell for is empty, and so
    suppressed (none included)."""
    get = shown.get
    cells = {key: get(key) for key in (itertools.product(*values) if values else [()])} if dims else {}
    margins = tuple({v: margin.get(v) for v in values[i]} for i, margin in enumerate(margins))
    suppressed = frozenset(
        [("cell", key) for key, n in cells.items() if n is None]
        + [("margin", i, v) for i, m in enumerate(margins) for v, n in m.items() if n is None]
        + ([("total",)] if total is None else [])
    )
    return ProtectedTable(dims, cells, margins, total, suppressed, k)


def protect(table: CountTable, k: int, values: Sequence[Sequence[Any]] | None = None) -> ProtectedTable:
    """What a table shows under disclosure control. `values` (one list per dimension): the
    table lists every combination of them and every value in its margins, a cell or margin
    the table does not have being empty (as `complete_cells`, in the same pass)."""
    value = publisher(k)
    if values is not None:
        return protected_table(
            table.dims, values, {key: value(cell) for key, cell in table.cells.items()},
            [{v: value(c) for v, c in margin.items()} for margin in table.margins], value(table.total), k)
    cells = {key: value(cell) for key, cell in table.cells.items()}
    margins = tuple({v: value(c) for v, c in margin.items()} for margin in table.margins)
    total = value(table.total)
    suppressed = frozenset(
        [("cell", key) for key, n in cells.items() if n is None]
        + [("margin", i, v) for i, m in enumerate(margins) for v, n in m.items() if n is None]
        + ([("total",)] if total is None else [])
    )
    return ProtectedTable(table.dims, cells, margins, total, suppressed, k)


def unprotected(table: CountTable) -> ProtectedTable:
    """The same shape without disclosure control (for roles that see microdata)."""
    return ProtectedTable(
        table.dims,
        {key: c.n for key, c in table.cells.items()},
        tuple({v: c.n for v, c in m.items()} for m in table.margins),
        table.total.n,
        frozenset(),
        None,
    )


def other_districts_label(region: str | None) -> str:
    return OTHER_DISTRICTS.format(region=region or "unknown region")


def shown_districts(totals: Mapping[str, Cell | int], k: int) -> frozenset[str]:
    """The districts shown on their own: at least 5k persons."""
    threshold = DISTRICT_GUARD_FACTOR * k
    return frozenset(d for d, c in totals.items() if (c.n if isinstance(c, Cell) else c) >= threshold)


def merged_districts(districts, region_of: Mapping[Any, str | None], shown: frozenset) -> dict[Any, str]:
    """District -> "other districts of <region>" for every district not in `shown`: the guard's
    merge, which a table applies to its cells (`guard_districts`) or a statement to its rows."""
    return {d: other_districts_label(region_of.get(d)) for d in districts if d not in shown}


def guard_districts(table: CountTable, region_of: Mapping[Any, str | None], shown: frozenset) -> CountTable:
    """Merge the districts not in `shown` into "other districts of <region>": a cell of its
    own (the sum of the merged districts' cells: the same persons, the same key)."""
    if "district" not in table.dims:
        return table
    index = table.dims.index("district")
    found = {key[index] for key in table.cells} | (set(table.margins[index]) if table.margins else set())
    merge = merged_districts(found, region_of, shown)

    def mapped(district):
        return merge.get(district, district)

    cells: dict[tuple, Cell] = {}
    for key, cell in table.cells.items():
        new_key = tuple(mapped(v) if i == index else v for i, v in enumerate(key))
        cells[new_key] = cells.get(new_key, EMPTY) + cell
    margins = list(table.margins)
    if margins:
        merged: dict[Any, Cell] = {}
        for value, cell in margins[index].items():
            merged[mapped(value)] = merged.get(mapped(value), EMPTY) + cell
        margins[index] = merged
    return CountTable(table.dims, table.multi, cells, tuple(margins), table.total)


def complete_cells(dims_values: Sequence[Sequence[Any]], counts: Mapping[tuple, Cell]) -> dict[tuple, Cell]:
    """Every combination of the given values, with an empty cell where nobody is counted."""
    keys = itertools.product(*dims_values) if dims_values else [()]
    return {key: counts.get(key, EMPTY) for key in keys}

"""Disclosure control for summary tables of counts (shared/spec/summaries.md). Pure.

A table has 0, 1 or 2 dimensions. Its entries are the cells, the totals by each dimension
(2-D tables only: in a 1-D table the cells are those totals) and the grand total. A dimension
is *multi-valued* when a person can count in several of its values (risk groups, control
forms, exploitation types); totals over such a dimension are counts of persons, not sums.

Three rules, in this order:
1. District guard (`guard_districts`): districts whose total is under 5k are merged into
   "other districts of <region>".
2. Threshold: every entry with 0 < count < k is suppressed (zeros are always shown).
3. Complementary suppression: every suppressed entry must not be derivable from what is
   shown. The additive relations of a table (a total equals the sum of its members, where
   the summed dimension is single-valued) form a network: each equation is a node and each
   entry an arc between the two equations it takes part in (or the free "ground" node when
   it takes part in fewer). A change of the suppressed entries that keeps every equation
   true is a circulation on that network, so a suppressed entry can take another value,
   consistent with everything shown, exactly when it lies on a cycle of suppressed entries
   along which it can move by one: increasing an entry is always possible, decreasing needs
   a value of 2 or more, since everyone reading the table knows a suppressed count is at
   least 1 (zeros are shown). Where no such cycle exists, the cheapest path that closes one
   is suppressed too: the smallest cells first ("the next smallest cell"), totals only when
   no cell can do it, the grand total last.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_K = 5
DISTRICT_GUARD_FACTOR = 5
OTHER_DISTRICTS = "other districts of {region}"

# Entry ids: ("cell", key), ("margin", dim_index, value), ("total",)
Entry = tuple
GROUND = ("ground",)
_MARGIN_COST = 10**9
_TOTAL_COST = 10**12


@dataclass(frozen=True)
class CountTable:
    """A table of counts. `cells` maps a key (a tuple, one value per dimension) to a count and
    lists every cell the table shows, zeros included. `margins[i]` maps each value of
    dimension i to its total (2-D tables only; empty otherwise). `total` counts persons."""

    dims: tuple[str, ...]
    multi: tuple[bool, ...]
    cells: Mapping[tuple, int]
    margins: tuple[Mapping[Any, int], ...] = ()
    total: int = 0

    def __post_init__(self) -> None:
        if len(self.dims) > 2:
            raise ValueError("a table has at most two dimensions")
        if len(self.multi) != len(self.dims):
            raise ValueError("multi must say, for every dimension, whether it is multi-valued")
        if len(self.dims) == 2 and len(self.margins) != 2:
            raise ValueError("a 2-D table needs the totals of both dimensions")
        if len(self.dims) < 2 and self.margins:
            raise ValueError("only 2-D tables carry totals by dimension")

    def entries(self) -> dict[Entry, int]:
        values: dict[Entry, int] = {("cell", key): n for key, n in self.cells.items()}
        for i, margin in enumerate(self.margins):
            for value, n in margin.items():
                values[("margin", i, value)] = n
        values[("total",)] = self.total
        return values


@dataclass(frozen=True)
class ProtectedTable:
    """What may be shown: counts with None where suppressed."""

    dims: tuple[str, ...]
    cells: dict[tuple, int | None]
    margins: tuple[dict[Any, int | None], ...]
    total: int | None
    suppressed: frozenset = field(default_factory=frozenset)  # entry ids
    k: int | None = None


def _arcs(table: CountTable) -> dict[Entry, tuple[Hashable, Hashable]]:
    """Each entry as an arc (tail, head) between the equations it takes part in."""
    arcs: dict[Entry, tuple[Hashable, Hashable]] = {}
    if len(table.dims) <= 1:
        # total = sum of the cells (a 0-D table's one cell is its total)
        eq = ("T0",) if not any(table.multi) else GROUND
        for key in table.cells:
            arcs[("cell", key)] = (eq, GROUND)
        arcs[("total",)] = (GROUND, eq)
    else:
        multi0, multi1 = table.multi

        def row(u):  # margin0[u] = sum over v of cell(u, v); needs dimension 1 single-valued
            return ("R", u) if not multi1 else GROUND

        def col(v):  # margin1[v] = sum over u of cell(u, v); needs dimension 0 single-valued
            return ("C", v) if not multi0 else GROUND

        t0 = ("T0",) if not multi0 else GROUND  # total = sum of margin0
        t1 = ("T1",) if not multi1 else GROUND  # total = sum of margin1
        for key in table.cells:
            arcs[("cell", key)] = (row(key[0]), col(key[1]))
        for u in table.margins[0]:
            arcs[("margin", 0, u)] = (t0, row(u))
        for v in table.margins[1]:
            arcs[("margin", 1, v)] = (col(v), t1)
        arcs[("total",)] = (t1, t0)
    return arcs


def _wholes(table: CountTable) -> dict[Entry, list[Entry]]:
    """Part -> the entries it can never exceed, where no equation already says so: a count by
    a multi-valued dimension is at most the count of persons it is part of."""
    wholes: dict[Entry, list[Entry]] = {}
    if len(table.dims) == 1 and table.multi[0]:
        for key in table.cells:
            wholes[("cell", key)] = [("total",)]
    elif len(table.dims) == 2:
        multi0, multi1 = table.multi
        for key in table.cells:
            parts_of = []
            if multi1:
                parts_of.append(("margin", 0, key[0]))
            if multi0:
                parts_of.append(("margin", 1, key[1]))
            wholes[("cell", key)] = parts_of
        for i, margin in enumerate(table.margins):
            if table.multi[i]:
                for value in margin:
                    wholes[("margin", i, value)] = [("total",)]
    return wholes


class _Network:
    """Residual arcs: an entry can go up by one (its arc, forwards) unless a whole it is part
    of leaves too little room, and down by one (backwards) when it stays at least 1 and above
    its parts. The room asked for is 2, so that a part and its whole may both move."""

    def __init__(self, table: CountTable):
        self.arcs = _arcs(table)
        self.values = values = table.entries()
        wholes = _wholes(table)
        parts: dict[Entry, list[Entry]] = {}
        for part, ws in wholes.items():
            for whole in ws:
                parts.setdefault(whole, []).append(part)
        self.up: dict[Entry, bool] = {}
        self.down: dict[Entry, bool] = {}
        for entry in self.arcs:
            n = values[entry]
            self.up[entry] = n > 0 and all(n + 2 <= values[w] for w in wholes.get(entry, ()))
            self.down[entry] = n >= 2 and all(n >= values[p] + 2 for p in parts.get(entry, ()))
        # Parallel arcs are many (a row of cells between the same two equations): keep, per
        # pair of nodes, the shown ones sorted by cost and the suppressed ones apart, so that
        # a search looks at each pair once.
        self.cost = {e: _cost(e, values) for e in self.arcs}
        self.shown: dict[Hashable, dict[Hashable, list[tuple[float, int, Entry]]]] = {}
        self.hidden: dict[Hashable, dict[Hashable, list[Entry]]] = {}
        self.moves: dict[Entry, list[tuple[Hashable, Hashable]]] = {}
        for order, (entry, (tail, head)) in enumerate(self.arcs.items()):
            moves = []
            if self.up[entry]:
                moves.append((tail, head))
            if self.down[entry]:
                moves.append((head, tail))
            self.moves[entry] = moves
            for node, nxt in moves:
                self.shown.setdefault(node, {}).setdefault(nxt, []).append((self.cost[entry], order, entry))
                self.hidden.setdefault(node, {}).setdefault(nxt, [])
        for targets in self.shown.values():
            for arcs in targets.values():
                arcs.sort()
        self.adjacent = {
            node: [(nxt, arcs, self.hidden[node][nxt]) for nxt, arcs in targets.items()]
            for node, targets in self.shown.items()
        }
        self.suppressed: set[Entry] = set()

    def suppress(self, entry: Entry) -> None:
        if entry in self.suppressed:
            return
        self.suppressed.add(entry)
        for node, nxt in self.moves.get(entry, ()):
            arcs = self.shown[node][nxt]
            arcs[:] = [a for a in arcs if a[2] != entry]  # in place: `adjacent` shares it
            self.hidden[node][nxt].append(entry)

    def cheapest_path(
        self, start: Hashable, goal: Hashable, skip: Entry, allow_shown: bool
    ) -> tuple[float, list[Entry]] | None:
        """Dijkstra over residual arcs: suppressed entries cost nothing, shown ones their cost
        (or cannot be used, unless `allow_shown`)."""
        counter = itertools.count()
        best: dict[Hashable, float] = {start: 0}
        back: dict[Hashable, tuple[Hashable, Entry]] = {}
        queue = [(0.0, next(counter), start)]
        while queue:
            cost, _, node = heapq.heappop(queue)
            if node == goal:
                path = []
                while node != start:
                    node, entry = back[node]
                    path.append(entry)
                return cost, path
            if cost > best.get(node, float("inf")):
                continue
            for nxt, arcs, hidden in self.adjacent.get(node, ()):
                choice = None
                for e in hidden:
                    if e != skip:
                        choice = e
                        break
                step = 0.0
                if choice is None:
                    if not allow_shown:
                        continue
                    found = next(((c, e) for c, _, e in arcs if e != skip), None)
                    if found is None:
                        continue
                    step, choice = found
                if cost + step < best.get(nxt, float("inf")):
                    best[nxt] = cost + step
                    back[nxt] = (node, choice)
                    heapq.heappush(queue, (cost + step, next(counter), nxt))
        return None

    def protection_path(self, entry: Entry, allow_shown: bool = True) -> tuple[float, list[Entry]] | None:
        """The cheapest set of entries that, suppressed, lets `entry` move by one."""
        tail, head = self.arcs[entry]
        if tail == head:  # in no equation
            return (0.0, []) if self.up[entry] or self.down[entry] else None
        options = []
        if self.up[entry]:
            options.append(self.cheapest_path(head, tail, entry, allow_shown))
        if self.down[entry]:
            options.append(self.cheapest_path(tail, head, entry, allow_shown))
        found = [o for o in options if o is not None]
        return min(found, key=lambda o: o[0]) if found else None


def _cost(entry: Entry, values: Mapping[Entry, int]) -> float:
    base = values[entry]
    if entry[0] == "margin":
        return base + _MARGIN_COST
    if entry[0] == "total":
        return base + _TOTAL_COST
    return base


def suppressed_entries(table: CountTable, k: int) -> frozenset:
    """The entries to suppress: primary (0 < count < k) and complementary."""
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K}")
    network = _Network(table)
    values = network.values
    primary = sorted(
        (e for e, n in values.items() if 0 < n < k), key=lambda e: (network.cost[e], repr(e))
    )
    for entry in primary:
        network.suppress(entry)
    for entry in primary:
        if network.protection_path(entry, allow_shown=False) is not None:
            continue  # already on a cycle of suppressed entries
        found = network.protection_path(entry)
        if found is None:  # cannot happen for the tables built here; hide everything then
            return frozenset(e for e, n in values.items() if n > 0)
        for other in found[1]:
            network.suppress(other)
    return frozenset(network.suppressed)


def is_protected(table: CountTable, suppressed: frozenset | set, entry: Entry) -> bool:
    """Whether a suppressed entry can move by one while everything shown stays true."""
    network = _Network(table)
    for other in suppressed:
        network.suppress(other)
    return network.protection_path(entry, allow_shown=False) is not None


def protect(table: CountTable, k: int) -> ProtectedTable:
    suppressed = suppressed_entries(table, k)
    cells = {key: (None if ("cell", key) in suppressed else n) for key, n in table.cells.items()}
    margins = tuple(
        {value: (None if ("margin", i, value) in suppressed else n) for value, n in margin.items()}
        for i, margin in enumerate(table.margins)
    )
    total = None if ("total",) in suppressed else table.total
    return ProtectedTable(table.dims, cells, margins, total, suppressed, k)


def unprotected(table: CountTable) -> ProtectedTable:
    """The same shape without disclosure control (for roles that see microdata)."""
    return ProtectedTable(
        table.dims,
        dict(table.cells),
        tuple(dict(m) for m in table.margins),
        table.total,
        frozenset(),
        None,
    )


def other_districts_label(region: str | None) -> str:
    return OTHER_DISTRICTS.format(region=region or "unknown region")


def guard_districts(
    table: CountTable,
    region_of: Mapping[Any, str | None],
    k: int,
    district_totals: Mapping[Any, int] | None = None,
) -> CountTable:
    """Merge the districts whose total is under 5k into "other districts of <region>".

    The district dimension must be single-valued. `district_totals` are the districts' totals
    (persons); for a 1-D table they default to the cells, for a 2-D table to its margin."""
    if "district" not in table.dims:
        return table
    index = table.dims.index("district")
    if district_totals is None:
        if len(table.dims) == 1:
            district_totals = {key[0]: n for key, n in table.cells.items()}
        else:
            district_totals = table.margins[index]
    threshold = DISTRICT_GUARD_FACTOR * k

    def mapped(district):
        if district_totals.get(district, 0) >= threshold:
            return district
        return other_districts_label(region_of.get(district))

    cells: dict[tuple, int] = {}
    for key, n in table.cells.items():
        new_key = tuple(mapped(v) if i == index else v for i, v in enumerate(key))
        cells[new_key] = cells.get(new_key, 0) + n
    margins = list(table.margins)
    if margins:
        merged: dict[Any, int] = {}
        for value, n in margins[index].items():
            merged[mapped(value)] = merged.get(mapped(value), 0) + n
        margins[index] = merged
    return CountTable(table.dims, table.multi, cells, tuple(margins), table.total)


def complete_cells(
    dims_values: Sequence[Sequence[Any]], counts: Mapping[tuple, int]
) -> dict[tuple, int]:
    """Every combination of the given values, with zero where there is no count."""
    keys = itertools.product(*dims_values) if dims_values else [()]
    return {key: counts.get(key, 0) for key in keys}

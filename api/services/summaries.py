"""The summary service: the requests, tables and workbook of risk-group summaries, shared
by the REST routes (api/v1/summaries.py) and the dashboard pages (api/pages/dashboard.py).

Two audiences (shared/spec/summaries.md, version 2):
- roles that may read microdata get live counts from the aggregates (db/summaries.py);
- every other role gets a publication (api/services/publications.py): frozen cells, published
  by the one disclosure engine (exports/disclosure.py), through a bounded query language
  (`parse_summary_query(..., restricted=True)`): at most two dimensions per table (breakdowns
  and filters together), one whole value per filter, no review state, and periods only as whole
  months, quarters or years.
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import asyncpg
from cachetools import LRUCache

from api.background import stop_background_task
from api.i18n import N_
from api.problems import Problem
from api.services.summary_requests import (  # noqa: F401 (the service's words, re-exported)
    QUERY_KEYS,
    XLSX_MEDIA,
    Slice,
    SummaryRequest,
    SummaryResult,
    fitted,
    parse_summary_query,
    within_bounds,
)
from db import publications as publications_db
from db import summaries as summaries_db
from db.pool import pool_connection
from db.publications import Publication
from db.summaries import BY_NAME, DIMENSIONS, UNKNOWN
from exports.disclosure import (
    EMPTY,
    Cell,
    CountTable,
    complete_cells,
    count_publisher,
    merged_districts,
    method_notes,
    protected_table,
    shown_districts,
    unprotected,
)
from exports.summary_xlsx import SummarySheet, Words, summary_workbook
from forms.vocabulary import (
    ALL_TIME,
    FIRST_MONTH,
    LAST_MONTH,
    PERIODS,
)

# --- live tables (roles with microdata) ----------------------------------------------------


def _period_keys(request: SummaryRequest, found: set[int]) -> list[int]:
    if request.period is None:
        return [0]
    keys = set(found)
    if request.month_from and request.month_to < LAST_MONTH:
        keys |= set(_range_keys(request.period, request.month_from, request.month_to))
    return sorted(keys, key=lambda k: (k == 0, k))


def _range_keys(period: str, month_from: int, month_to: int) -> list[int]:
    keys: list[int] = []
    year, month = divmod(month_from, 100)
    while year * 100 + month <= month_to:
        if period == "month":
            key = year * 100 + month
        elif period == "quarter":
            key = year * 10 + (month + 2) // 3
        else:
            key = year
        if key not in keys:
            keys.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def _values(name: str, found: set[str]) -> list[str]:
    known = list(BY_NAME[name].known)
    extra = sorted(v for v in found if v not in known and v != UNKNOWN)
    return known + extra + ([UNKNOWN] if UNKNOWN in found else [])


def _cells(counts: Mapping[tuple, int]) -> dict[tuple, Cell]:
    return {key: Cell(n) for key, n in counts.items()}


async def build_summary(
    conn: asyncpg.Connection,
    request: SummaryRequest,
    k: int | None,
    publication: Publication | None = None,
) -> SummaryResult:
    """The tables of a request: live counts when k is None (roles with microdata), else the
    publication's cells under disclosure control."""
    if k is not None:
        if publication is None:
            raise ValueError("counts under disclosure control come from a publication")
        return await _published_summary(conn, request, k, publication)
    query = request.count_query()
    versions = await summaries_db.rubric_versions(conn, query)
    dims = [BY_NAME[name] for name in request.by]
    raw = await summaries_db.count_persons(conn, query)
    margins_raw: list[dict[tuple, int]] = []
    if len(dims) == 2:
        for i in range(2):
            if not dims[1 - i].multi:  # summing over a single-valued dimension counts persons
                margin: dict[tuple, int] = {}
                for key, n in raw.items():
                    margin[(key[0], key[1 + i])] = margin.get((key[0], key[1 + i]), 0) + n
            else:
                margin = await summaries_db.count_persons(conn, request.count_query(by=(request.by[i],)))
            margins_raw.append(margin)
    if not dims:
        totals = dict(raw)
    elif not any(d.multi for d in dims):
        totals = {}
        for key, n in raw.items():
            totals[(key[0],)] = totals.get((key[0],), 0) + n
    elif len(dims) == 2 and not (dims[0].multi and dims[1].multi):
        single = 0 if not dims[0].multi else 1
        totals = {}
        for key, n in margins_raw[single].items():
            totals[(key[0],)] = totals.get((key[0],), 0) + n
    else:
        totals = await summaries_db.count_persons(conn, request.count_query(by=()))

    found_periods = {key[0] for key in totals} | {key[0] for key in raw}
    values = [
        _values(name, {key[1 + i] for key in raw} | {key[1] for key in (margins_raw[i] if margins_raw else ())})
        for i, name in enumerate(request.by)
    ]
    slices = []
    for key in _period_keys(request, found_periods):
        counts = {tuple(c[1:]): Cell(n) for c, n in raw.items() if c[0] == key}
        cells = complete_cells(values, counts) if dims else {}
        margins = tuple(
            {v: Cell(margins_raw[i].get((key, v), 0)) for v in values[i]} for i in range(len(margins_raw))
        )
        table = CountTable(
            tuple(request.by), tuple(d.multi for d in dims), cells, margins, Cell(totals.get((key,), 0))
        )
        slices.append(Slice(summaries_db.period_label(key, request.period), unprotected(table)))
    return SummaryResult(request, None, versions, slices)


# --- published tables (roles without microdata) --------------------------------------------


@dataclass(frozen=True)
class _Facts:
    """What a publication's tables share, computed once (a publication never changes)."""

    values: dict[str, list[str]]  # dimension -> the values its tables list
    shown: frozenset  # districts shown on their own
    region_of: dict[str, str]
    totals: dict[int, Cell]  # period key of a month -> its total (for the list of periods)
    merged: dict[str, str]  # district not shown -> its "other districts of <region>"


# Memories of a publication are keyed by the whole (frozen) Publication, not its id alone: an
# id is unique within one database only, and one process may read several (the CLI, tests).
_facts_cache: LRUCache[tuple[Publication, int], _Facts] = LRUCache(maxsize=256)


async def _facts(conn: asyncpg.Connection, publication: Publication, k: int) -> _Facts:
    cached = _facts_cache.get((publication, k))
    if cached is not None:
        return cached
    everything = {"period": None, "month_from": FIRST_MONTH, "month_to": LAST_MONTH}
    districts = await publications_db.read_cells(conn, publication.id, (1,), **everything)
    pairs = await publications_db.read_cells(conn, publication.id, (0, 1), **everything)
    best: dict[str, tuple[int, str]] = {}
    for (_, region, district), cell in sorted(pairs.items()):
        if cell.n > best.get(district, (0, ""))[0]:
            best[district] = (cell.n, region)
    region_of = {d: r for d, (_, r) in best.items()}
    shown = shown_districts({key[1]: c for key, c in districts.items()}, k)
    merged = merged_districts({key[1] for key in districts}, region_of, shown)
    values: dict[str, list[str]] = {}
    for dim in DIMENSIONS:
        if dim.name == "district":
            labelled: dict[str, Cell] = {}
            for (_, district), cell in districts.items():
                label = merged.get(district, district)
                labelled[label] = labelled.get(label, EMPTY) + cell
            values["district"] = sorted(d for d in shown if d != UNKNOWN) + sorted(
                label for label, cell in labelled.items() if label not in shown and cell.n >= k
            ) + ([UNKNOWN] if UNKNOWN in shown else [])
            continue
        cells = await publications_db.read_cells(conn, publication.id, (dim.number,), **everything)
        found = {key[1] for key, cell in cells.items() if cell.n >= k}  # listing a value says nothing below k
        values[dim.name] = _values(dim.name, found | set(dim.known))
    months = await publications_db.read_cells(conn, publication.id, (), period="month", month_from=FIRST_MONTH, month_to=LAST_MONTH)
    facts = _Facts(values, shown, region_of, {key[0]: cell for key, cell in months.items()}, merged)
    _facts_cache[(publication, k)] = facts
    return facts


def _published_periods(request: SummaryRequest, facts: _Facts, publication: Publication, k: int) -> list[int]:
    """The periods a published table lists: in a range, all of its periods; otherwise from the
    first period with k persons through the publication's last month (and 'date unknown' when
    it has k persons), so that whether a period is listed says nothing below k."""
    if request.period is None:
        return [0]
    last = publication.through_month
    if request.month_from:
        return _range_keys(request.period, request.month_from, min(request.month_to, last))
    totals: dict[int, Cell] = {}
    for month, cell in facts.totals.items():
        if month:
            key = _range_keys(request.period, month, month)[0]
            totals[key] = totals.get(key, EMPTY) + cell
    listed = sorted(key for key, cell in totals.items() if cell.n >= k)
    keys = []
    if listed:
        first = listed[0]
        start = {"month": first, "quarter": (first // 10) * 100 + (first % 10) * 3 - 2, "year": first * 100 + 1}
        keys = _range_keys(request.period, start[request.period], last)
    unknown = facts.totals.get(0, EMPTY)
    return keys + ([0] if unknown.n >= k else [])


# A publication never changes: a table asked before is answered from memory (the same
# values; the most recently asked tables of every publication, per server process).
_tables_cache: LRUCache[tuple, SummaryResult] = LRUCache(maxsize=256)


def forget_published_tables() -> None:
    """Empty the memory of published tables (bench/summaries.py times their computation)."""
    _tables_cache.clear()


async def _published_summary(
    conn: asyncpg.Connection, request: SummaryRequest, k: int, publication: Publication
) -> SummaryResult:
    key = (publication, k, request.by, request.period, request.month_from, request.month_to,
           tuple(sorted(request.filters.items())), request.form_ids)
    found = _tables_cache.get(key)
    if found is not None:
        return replace(found, request=request)
    result = await _published_tables(conn, request, k, publication)
    _tables_cache[key] = result
    return result


# A published table of at least this many cells (every combination of its listed values, in
# every period it lists) is kept whole in the database (publication_tables, 0018): made in the
# background with the publication (`precompute_tables`: every one without a filter or a
# range) or when first asked for (the others), then read in one indexed statement.
PRECOMPUTED_CELLS = 2000


def _stored_key(request: SummaryRequest) -> str:
    """A table's request as publication_tables keeps it (the forms are the project's)."""
    return json.dumps([list(request.by), request.period, request.month_from, request.month_to,
                       sorted([n, list(v)] for n, v in request.filters.items())], separators=(",", ":"))


def _table_size(request: SummaryRequest, facts: _Facts, publication: Publication, k: int) -> int:
    cells = len(_published_periods(request, facts, publication, k))
    for name in request.by:
        cells *= len(facts.values[name])
    return cells


def _table_body(values: list[list[str]], slices: list[Slice]) -> bytes:
    return zlib.compress(json.dumps({
        "values": values,
        "slices": [[s.period, list(s.table.cells.values()), [list(m.values()) for m in s.table.margins],
                    s.table.total] for s in slices],
    }, separators=(",", ":")).encode(), 1)


def _table_slices(request: SummaryRequest, k: int, body: bytes) -> list[Slice]:
    stored = json.loads(zlib.decompress(body))
    values = stored["values"]
    keys = list(itertools.product(*values)) if values else [()]
    return [
        Slice(label, protected_table(
            tuple(request.by), values, dict(zip(keys, cells, strict=True)) if request.by else {},
            [dict(zip(values[i], margin, strict=True)) for i, margin in enumerate(margins)], total, k))
        for label, cells, margins, total in stored["slices"]
    ]


def _checked(request: SummaryRequest, publication: Publication, facts: _Facts) -> None:
    """The refusals of a published table (before it is read or computed)."""
    if request.month_from and request.month_from > publication.through_month:
        raise Problem(
            "summary-query-invalid",
            N_("The current publication covers interviews through %(month)s; later months are "
               "published after they close."),
            params={"month": publication.label},
        )
    district = request.filters.get("district")
    if district and district[0] not in facts.shown:
        raise Problem(
            "summary-district-guarded",
            N_("District %(district)s is shown only within 'other districts of' its region "
               "(fewer than 5k screenings in the publication)."),
            params={"district": district[0]},
        )


async def _published_tables(
    conn: asyncpg.Connection, request: SummaryRequest, k: int, publication: Publication
) -> SummaryResult:
    if not within_bounds(request):
        raise Problem("summary-query-invalid", N_("A published table involves at most two dimensions."))
    facts = await _facts(conn, publication, k)
    _checked(request, publication, facts)
    if _table_size(request, facts, publication, k) < PRECOMPUTED_CELLS:
        return await _computed_tables(conn, request, k, publication, facts)
    key = _stored_key(request)
    body = await publications_db.stored_table(conn, publication.id, k, key)
    if body is not None:
        return SummaryResult(request, k, list(publication.rubric_versions), _table_slices(request, k, body),
                             publication)
    result = await _computed_tables(conn, request, k, publication, facts)
    await publications_db.store_table(
        conn, publication.id, k, key, _table_body([facts.values[name] for name in request.by], result.slices))
    return result


async def precompute_tables(conn: asyncpg.Connection, publication: Publication, k: int) -> int:
    """Keep every large table of a publication that has no filter and no range (the
    publisher's work, once per publication; a request for one is then one indexed read).
    Returns how many it made."""
    facts = await _facts(conn, publication, k)
    done = await publications_db.stored_requests(conn, publication.id, k)
    names = [dim.name for dim in DIMENSIONS]
    shapes = [()] + [(n,) for n in names] + list(itertools.permutations(names, 2))
    made = 0
    for by in shapes:
        for period in (None, *PERIODS):
            request = SummaryRequest(by=by, period=period)
            if _stored_key(request) in done or _table_size(request, facts, publication, k) < PRECOMPUTED_CELLS:
                continue
            result = await _computed_tables(conn, request, k, publication, facts)
            await publications_db.store_table(conn, publication.id, k, _stored_key(request),
                                              _table_body([facts.values[n] for n in by], result.slices))
            made += 1
    return made


async def _computed_tables(
    conn: asyncpg.Connection, request: SummaryRequest, k: int, publication: Publication, facts: _Facts
) -> SummaryResult:
    fixed = {BY_NAME[name].number: values[0] for name, values in request.filters.items()}
    span = {"period": request.period, "month_from": request.month_from, "month_to": request.month_to}
    numbers = [BY_NAME[name].number for name in request.by]

    district_number = BY_NAME["district"].number
    # the district guard in the statement: a merged district's persons count under its label
    merged = (district_number, facts.merged) if "district" in request.by else None

    value = count_publisher(k)  # the engine's published value of each cell, as it is read

    async def read(by_numbers: Sequence[int]) -> dict[int, dict[tuple, int | None]]:
        """Published values by period key, then by the values in the order of `by_numbers`."""
        rows = await publications_db.cell_rows(
            conn, publication.id, [*by_numbers, *fixed], fixed=fixed,
            merged=merged if district_number in by_numbers else None, **span,
        )
        grouped: dict[int, dict[tuple, int | None]] = {}
        width = len(by_numbers)
        swapped = list(by_numbers) != sorted(by_numbers)
        for row in rows:
            period = grouped.get(row[0])
            if period is None:
                period = grouped[row[0]] = {}
            values = (row[2], row[1]) if swapped else (row[1], row[2]) if width == 2 else (row[1],) if width else ()
            period[values] = value(row[-2], row[-1])
        return grouped

    by_period = await read(numbers)
    margins_by_period = [await read([n]) for n in numbers] if len(numbers) == 2 else []
    totals = await read([]) if numbers else by_period
    values = [facts.values[name] for name in request.by]
    empty = value(0, 0)
    slices = []
    for key in _published_periods(request, facts, publication, k):
        # every combination of the listed values, a cell without persons suppressed
        protected = protected_table(
            tuple(request.by), values, by_period.get(key, {}),
            [{v: n for (v,), n in grouped.get(key, {}).items()} for grouped in margins_by_period],
            totals.get(key, {}).get((), empty), k)
        slices.append(Slice(summaries_db.period_label(key, request.period), protected))
    return SummaryResult(request, k, list(publication.rubric_versions), slices, publication)


# --- the workbook ------------------------------------------------------------------------------

DASHBOARD_TABLES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    (N_("Risk level by region"), ("region", "risk_level"), None),
    (N_("Risk groups"), ("risk_group",), None),
    (N_("Control forms"), ("control_form",), None),
    (N_("Exploitation types"), ("exploitation_type",), None),
    (N_("Risk level by quarter"), ("risk_level",), "quarter"),
)


async def workbook_tables(
    conn: asyncpg.Connection,
    request: SummaryRequest,
    k: int | None,
    *,
    requested_by: bool,
    publication: Publication | None = None,
) -> list[tuple[str, SummaryResult]]:
    if requested_by:
        title = " by ".join(request.by) if request.by else "Total"
        return [(title, await build_summary(conn, request, k, publication))]
    tables = []
    for title, by, period in DASHBOARD_TABLES:
        table_request = replace(request, by=by, period=period)
        if k is not None:
            table_request = fitted(table_request)
            if table_request is None:
                continue  # with a filter, a 2-D table would involve three dimensions
        tables.append((title, await build_summary(conn, table_request, k, publication)))
    if not tables:
        raise Problem("summary-query-invalid", N_("No table of the workbook fits these filters (one filter at most)."))
    return tables


def month_text(month: int, *, first: bool) -> str | None:
    if month in ALL_TIME:
        return None
    year, m = divmod(month, 100)
    return date(year, m, 1 if first else calendar.monthrange(year, m)[1]).isoformat()


def month_label(month: int) -> str:
    return "date unknown" if month == 0 else f"{month // 100:04d}-{month % 100:02d}"


Note = tuple[str, str, dict]  # (key, text, values): catalogue templates and their values


def publication_notes(publication: Publication) -> list[Note]:
    """The publication and its revisions as notes-sheet rows (exports/summary_xlsx.py puts
    them in the reader's language)."""
    stated = (N_("Publication"), N_("%(label)s: interviews through %(label)s, as stored on %(time)s UTC; "
                                    "it does not change."),
              {"label": publication.label, "time": f"{publication.published_at:%Y-%m-%d %H:%M}"})
    if not publication.previous_month:
        return [stated, (N_("Revisions"), N_("none (the first publication)"), {})]
    values = {"before": month_label(publication.previous_month),
              "months": ", ".join(month_label(m) for m in publication.revised if m)}
    if not publication.revised:
        text = N_("No month revised since publication %(before)s.")
    elif 0 not in publication.revised:
        text = N_("Months revised since publication %(before)s (screenings stored, edited, reviewed or "
                  "reclassified after it): %(months)s.")
    elif values["months"]:
        text = N_("Months revised since publication %(before)s (screenings stored, edited, reviewed or "
                  "reclassified after it): %(months)s, and the interviews of unknown date.")
    else:
        text = N_("Revised since publication %(before)s (screenings stored, edited, reviewed or "
                  "reclassified after it): the interviews of unknown date.")
    return [stated, (N_("Revisions"), text, values)]


def publication_json(publication: Publication) -> dict:
    """The publication as every answer under disclosure control names it."""
    return {
        "throughMonth": publication.label,
        "publishedAt": publication.published_at.isoformat(),
        "previous": month_label(publication.previous_month) if publication.previous_month else None,
        "revisedMonths": [month_label(m) for m in publication.revised],
    }


def workbook_bytes(project_name: str, tables: list[tuple[str, SummaryResult]], *,
                   words: Words | None = None) -> bytes:
    """The workbook; `words` (exports/summary_xlsx.py) puts it in the reader's language."""
    first = tables[0][1]
    request = first.request
    sheets = [
        SummarySheet(
            title,
            tuple(result.request.by),
            [(part.period, part.table) for part in result.slices],
            labels={UNKNOWN: "unknown"},
        )
        for title, result in tables
    ]
    versions = sorted({v for _, result in tables for v in result.rubric_versions})
    start, end = month_text(request.month_from, first=True), month_text(request.month_to, first=False)
    filters = "; ".join(f"{n} = {', '.join(v)}" for n, v in request.filters.items())
    notes: list[Note] = [
        (N_("Project"), project_name, {}),
        (N_("Generated"), N_("%(time)s UTC"), {"time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M")}),
        (N_("Period"), N_("%(start)s to %(end)s"), {"start": start or "…", "end": end or "…"})
        if start or end else (N_("Period"), N_("all"), {}),
        (N_("Filters"), filters or N_("none"), {}),  # dimension and value codes, as asked
        (N_("Review states counted"), ", ".join(request.reviews), {}),
        (N_("Rubric version(s)"), ", ".join(versions) or N_("none"), {}),
    ]
    if first.k is not None and first.publication is not None:
        notes += publication_notes(first.publication)
        notes += method_notes(first.k)
    else:
        notes.append((N_("Disclosure control"), N_("off (microdata role): live counts"), {}))
    notes += [
        (N_("Counting"), N_("Counts are persons screened (risk_screening submissions with consent, not "
                            "rejected). A person counts once in every risk group, control form and "
                            "exploitation type they have, so those columns do not add up to the total."), {}),
        (N_("Source"), N_("fieldsurvey risk rubric; screening labels, not legal determinations."), {}),
    ]
    return summary_workbook(sheets, notes, words=words)


# --- folding in the background ----------------------------------------------------------------

# A fold costs about the number of cells it touches (every shape x grain of every delta),
# and deltas that arrive together share cells: folding 300 deltas cost 1.5 ms of PostgreSQL
# CPU per delta, 2,600 at once 0.28 ms. So the folder looks every FOLD_INTERVAL_SECONDS and
# folds once FOLD_MIN_DELTAS wait, or when its last fold is FOLD_MAX_WAIT_SECONDS old; a read
# then adds at most about that many pending deltas (~1.3 ms per 1,000 measured).
FOLD_INTERVAL_SECONDS = 2.0
FOLD_MIN_DELTAS = 2_000
FOLD_MAX_WAIT_SECONDS = 10.0
log = logging.getLogger("fieldsurvey.summaries")


def fold_due(since_last_fold: float, pending: int) -> bool:
    return pending >= FOLD_MIN_DELTAS or (pending > 0 and since_last_fold >= FOLD_MAX_WAIT_SECONDS)


@asynccontextmanager
async def fold_in_background(app) -> AsyncIterator[None]:
    """An app lifespan (after the one that opens the pool): fold the summary deltas in
    batches (see FOLD_MIN_DELTAS), so that reads have few pending deltas to add. Reads are
    exact without it."""

    async def loop() -> None:
        last_fold = time.monotonic()
        while True:
            await asyncio.sleep(FOLD_INTERVAL_SECONDS)
            try:
                async with pool_connection(app.state.pool) as conn:
                    pending = await summaries_db.count_pending_up_to(conn, FOLD_MIN_DELTAS)
                    if fold_due(time.monotonic() - last_fold, pending):
                        await summaries_db.fold_deltas(conn)
                        last_fold = time.monotonic()
            except Exception:  # whatever it was: logged, and the next round tries again
                log.exception("folding summary deltas failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop_background_task(task, "summary folder")

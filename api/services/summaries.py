"""The summary service: the requests, tables and workbook of risk-group summaries, shared
by the REST routes (api/v1/summaries.py) and the dashboard pages (api/pages/dashboard.py).

Counts come from the aggregates (db/summaries.py), never from scanning submissions; disclosure
control (exports/disclosure.py) is applied when a threshold k is given.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import asyncpg

from api.problems import Problem
from db import summaries as summaries_db
from db.summaries import BY_NAME, PERIODS, REVIEW_STATES, UNKNOWN, CountQuery
from exports.disclosure import (
    DISTRICT_GUARD_FACTOR,
    CountTable,
    ProtectedTable,
    complete_cells,
    guard_districts,
    protect,
    unprotected,
)
from exports.summary_xlsx import SummarySheet, summary_workbook

DEFAULT_REVIEWS = tuple(s for s in REVIEW_STATES if s != "rejected")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
QUERY_KEYS = {"by", "period", "from", "to", "reviewState", "disclosure"} | set(BY_NAME)


@dataclass(frozen=True)
class SummaryRequest:
    by: tuple[str, ...] = ()
    period: str | None = None
    month_from: int = 0
    month_to: int = 999_912
    reviews: tuple[str, ...] = DEFAULT_REVIEWS
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    form_ids: tuple[int, ...] = ()

    def with_forms(self, form_ids: Sequence[int]) -> SummaryRequest:
        return replace(self, form_ids=tuple(form_ids))

    def count_query(self, by: Sequence[str] | None = None, filters=None) -> CountQuery:
        return CountQuery(
            self.form_ids,
            tuple(self.by if by is None else by),
            dict(self.filters if filters is None else filters),
            self.month_from,
            self.month_to,
            self.reviews,
            self.period,
        )


@dataclass(frozen=True)
class Slice:
    period: str | None  # the period's label, None for the whole range (or an unknown date)
    table: ProtectedTable


@dataclass(frozen=True)
class SummaryResult:
    request: SummaryRequest
    k: int | None
    rubric_versions: list[str]
    slices: list[Slice]


# --- parsing ------------------------------------------------------------------------------


def _month_bound(text: str, *, upper: bool) -> int:
    """YYYY-MM, or a date: the first day of a month (from) or the last (to). Ranges are whole
    months: the aggregates keep months, and day-level ranges would let two overlapping tables
    be subtracted to count the people interviewed on one day."""
    match = _MONTH.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
    else:
        match = _DAY.match(text)
        if not match:
            raise Problem("summary-query-invalid", f"{text!r} is not a date (YYYY-MM-DD) or a month (YYYY-MM).")
        year, month, day = (int(g) for g in match.groups())
        try:
            date(year, month, day)
        except ValueError as exc:
            raise Problem("summary-query-invalid", f"{text!r} is not a date.") from exc
        last = calendar.monthrange(year, month)[1]
        if (upper and day != last) or (not upper and day != 1):
            raise Problem(
                "summary-query-invalid",
                "Summaries cover whole months: 'from' must be the first day of a month and 'to' "
                f"the last (got {text}).",
            )
    if not 1 <= month <= 12:
        raise Problem("summary-query-invalid", f"{text!r} has no such month.")
    return year * 100 + month


def _listed(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))


def parse_summary_query(params: Mapping[str, str]) -> tuple[SummaryRequest, bool]:
    """The request and whether disclosure control was asked off."""
    unknown = sorted(set(params) - QUERY_KEYS)
    if unknown:
        raise Problem(
            "summary-query-invalid",
            f"Unknown parameter(s): {', '.join(unknown)}. Dimensions: {', '.join(BY_NAME)}.",
        )
    by = _listed(params.get("by", ""))
    for name in by:
        if name not in BY_NAME:
            raise Problem("summary-query-invalid", f"Unknown dimension {name!r}; use {', '.join(BY_NAME)}.")
    if len(by) > 2:
        raise Problem("summary-query-invalid", "A table has at most two dimensions (and a period).")
    period = params.get("period") or None
    if period is not None and period not in PERIODS:
        raise Problem("summary-query-invalid", f"period must be one of {', '.join(PERIODS)}.")
    reviews = _listed(params.get("reviewState", "")) or DEFAULT_REVIEWS
    for state in reviews:
        if state not in REVIEW_STATES:
            raise Problem("summary-query-invalid", f"reviewState must be among {', '.join(REVIEW_STATES)}.")
    month_from = _month_bound(params["from"], upper=False) if params.get("from") else 0
    month_to = _month_bound(params["to"], upper=True) if params.get("to") else 999_912
    if month_from > month_to:
        raise Problem("summary-query-invalid", "'from' is after 'to'.")
    filters = {name: _listed(params[name]) for name in BY_NAME if params.get(name)}
    disclosure = params.get("disclosure", "on")
    if disclosure not in ("on", "off"):
        raise Problem("summary-query-invalid", "disclosure must be on or off.")
    request = SummaryRequest(by, period, month_from, month_to, reviews, filters)
    return request, disclosure == "off"


# --- building tables ----------------------------------------------------------------------


def _period_keys(request: SummaryRequest, found: set[int]) -> list[int]:
    if request.period is None:
        return [0]
    keys = set(found)
    if request.month_from and request.month_to < 999_912:
        year, month = divmod(request.month_from, 100)
        while year * 100 + month <= request.month_to:
            if request.period == "month":
                keys.add(year * 100 + month)
            elif request.period == "quarter":
                keys.add(year * 10 + (month + 2) // 3)
            else:
                keys.add(year)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(keys, key=lambda k: (k == 0, k))


def _values(name: str, found: set[str]) -> list[str]:
    known = list(BY_NAME[name].known)
    extra = sorted(v for v in found if v not in known and v != UNKNOWN)
    return known + extra + ([UNKNOWN] if UNKNOWN in found else [])


async def build_summary(conn: asyncpg.Connection, request: SummaryRequest, k: int | None) -> SummaryResult:
    """Counts, totals by each dimension and the grand total per period, then (when k is given)
    the district guard and suppression."""
    query = request.count_query()
    versions = await summaries_db.rubric_versions(conn, query)
    if k is not None and "district" in request.filters:
        await _check_district_filter(conn, request, k)
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
    region_of: dict[str, str] = {}
    if k is not None and "district" in request.by:
        region_of = await summaries_db.regions_of_districts(conn, query)
    slices = []
    for key in _period_keys(request, found_periods):
        counts = {tuple(c[1:]): n for c, n in raw.items() if c[0] == key}
        cells = complete_cells(values, counts) if dims else {}
        margins = tuple(
            {v: margins_raw[i].get((key, v), 0) for v in values[i]} for i in range(len(margins_raw))
        )
        table = CountTable(
            tuple(request.by), tuple(d.multi for d in dims), cells, margins, totals.get((key,), 0)
        )
        if k is None:
            shown = unprotected(table)
        else:
            if "district" in request.by:
                table = guard_districts(table, region_of, k)
            shown = protect(table, k)
        slices.append(Slice(summaries_db.period_label(key, request.period), shown))
    return SummaryResult(request, k, versions, slices)


async def _check_district_filter(conn: asyncpg.Connection, request: SummaryRequest, k: int) -> None:
    """A table filtered to a district is shown only for districts the guard would show."""
    others = {name: v for name, v in request.filters.items() if name != "district"}
    query = replace(request.count_query(by=("district",), filters=others), period=None)
    counts = await summaries_db.count_persons(conn, query)
    for district in request.filters["district"]:
        if counts.get((0, district), 0) < DISTRICT_GUARD_FACTOR * k:
            raise Problem(
                "summary-district-guarded",
                f"District {district} has fewer than {DISTRICT_GUARD_FACTOR * k} screenings here; "
                "it is shown only within 'other districts of' its region.",
            )



def month_text(month: int, *, first: bool) -> str | None:
    if month in (0, 999_912):
        return None
    year, m = divmod(month, 100)
    return date(year, m, 1 if first else calendar.monthrange(year, m)[1]).isoformat()




# --- the workbook ------------------------------------------------------------------------------

DASHBOARD_TABLES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("Risk level by region", ("region", "risk_level"), None),
    ("Risk groups", ("risk_group",), None),
    ("Control forms", ("control_form",), None),
    ("Exploitation types", ("exploitation_type",), None),
    ("Risk level by quarter", ("risk_level",), "quarter"),
)


async def workbook_tables(
    conn: asyncpg.Connection, request: SummaryRequest, k: int | None, *, requested_by: bool
) -> list[tuple[str, SummaryResult]]:
    if requested_by:
        title = " by ".join(request.by) if request.by else "Total"
        return [(title, await build_summary(conn, request, k))]
    return [
        (title, await build_summary(conn, replace(request, by=by, period=period), k))
        for title, by, period in DASHBOARD_TABLES
    ]


def workbook_bytes(project_name: str, tables: list[tuple[str, SummaryResult]]) -> bytes:
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
    notes = [
        ("Project", project_name),
        ("Generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Period", f"{month_text(request.month_from, first=True) or 'all'} to "
                   f"{month_text(request.month_to, first=False) or 'all'}"),
        ("Filters", "; ".join(f"{n} = {', '.join(v)}" for n, v in request.filters.items()) or "none"),
        ("Review states counted", ", ".join(request.reviews)),
        ("Rubric version(s)", ", ".join(versions) or "none"),
        ("Disclosure control", "on" if first.k is not None else "off (microdata role)"),
    ]
    if first.k is not None:
        notes += [
            ("k (threshold)", str(first.k)),
            ("Suppression", f"A cell marked x is suppressed: its count is between 1 and {first.k - 1}, "
                            "or it was suppressed too so that another suppressed count cannot be "
                            "worked out by subtraction from the totals. Zeros are shown."),
            ("District guard", f"Districts with fewer than {DISTRICT_GUARD_FACTOR * first.k} "
                               "screenings are merged into 'other districts of <region>'."),
        ]
    notes += [
        ("Counting", "Counts are persons screened (risk_screening submissions with consent). A "
                     "person counts once in every risk group, control form and exploitation type "
                     "they have, so those columns do not add up to the total."),
        ("Source", "fieldsurvey risk rubric; screening labels, not legal determinations."),
    ]
    return summary_workbook(sheets, notes)


# --- folding in the background ----------------------------------------------------------------

FOLD_INTERVAL_SECONDS = 2.0
log = logging.getLogger("fieldsurvey.summaries")


@asynccontextmanager
async def fold_in_background(app) -> AsyncIterator[None]:
    """An app lifespan (after the one that opens the pool): fold the summary deltas every few
    seconds, so that reads have few pending deltas to add. Reads are exact without it."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(FOLD_INTERVAL_SECONDS)
            try:
                async with app.state.pool.acquire() as conn:
                    await summaries_db.fold_deltas(conn)
            except (asyncpg.PostgresError, OSError) as exc:  # the next round tries again
                log.warning("folding summary deltas failed: %s", exc)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""SQL of the summary aggregates (db/migrations/0004_summaries.sql): folding the deltas the
triggers append, and counting tables from the aggregates plus the deltas not folded yet.

Nothing here reads `submissions` or `screenings` for a summary (the dashboard listings at the
end do, for the coordinator's own microdata view). Identifiers in the built queries come only
from the fixed `DIMENSIONS` table below; every value is a `$n` parameter.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from db.scopes import RowScope, submission_scope_sql
from forms.vocabulary import ALL_TIME, COUNTED_REVIEW_STATES, LAST_MONTH, REGIONS, RISK_LEVELS


@dataclass(frozen=True)
class Dimension:
    number: int  # fixed: it is a bit of the stored shapes
    name: str  # the API's name
    column: str  # the column in summary_deltas / summary_wide
    multi: bool  # a person counts once in each of their values
    known: tuple[str, ...] = ()  # values always listed (zeros included); others as found


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(0, "region", "region", False, REGIONS),
    Dimension(1, "district", "district", False),
    Dimension(2, "sex", "sex", False, ("female", "male", "other", "refused")),
    Dimension(3, "age_band", "age_band", False, ("0-13", "14-17", "18-24", "25-34", "35-49", "50+")),
    Dimension(
        4,
        "site_type",
        "site_type",
        False,
        ("community", "school", "orphanage", "departure_point", "support_center", "hotline", "other"),
    ),
    Dimension(5, "risk_level", "risk_level", False, RISK_LEVELS),
    Dimension(
        6,
        "exploitation_status",
        "exploitation_status",
        False,
        (
            "not_screened",
            "none",
            "rights_violation",
            "incomplete",
            "forced_labour_indicated",
            "possible_trafficking",
        ),
    ),
    Dimension(
        7,
        "risk_group",
        "risk_groups",
        True,
        (
            "CHILD",
            "YOUTH",
            "UNDER_EDUCATED",
            "UNEMPLOYED",
            "VOC_GRAD",
            "LABOUR_MIGRANT",
            "RETURNEE",
            "PRIOR_VICTIM",
            "CHILD_LEFT_BEHIND",
            "NO_PARENTAL_CARE",
            "MARRIAGE_RISK",
            "INTERMEDIARY_EXPOSED",
            "POSSIBLE_VICTIM",
        ),
    ),
    Dimension(8, "control_form", "control_forms", True, ("physical", "economic", "psychological", "legal_dependence")),
    Dimension(
        9,
        "exploitation_type",
        "exploitation_types",
        True,
        (
            "domestic",
            "industrial",
            "agricultural",
            "criminal",
            "sexual",
            "organs",
            "surrogacy",
            "armed_conflict",
            "other",
        ),
    ),
)
BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}
UNKNOWN = ""  # how an unknown value is stored

_FOLD_LOCK = 7_240_551_004  # advisory lock: one folder (or shape builder) at a time
_WIDE_COLUMNS = ", ".join(d.column for d in DIMENSIONS)
_VALUE_COLUMNS = ("a", "b", "c", "d", "e", "f")
_VALUES = ", ".join(_VALUE_COLUMNS)
_KEY = f"shape, form_id, grain, month, review, {_VALUES}"
# each month-level count also counts in its year (grain 1) and in all time (grain 2)
_GRAINS = (
    "CROSS JOIN LATERAL (VALUES (0::smallint, m.month), (1::smallint, m.month / 100), "
    "(2::smallint, 0)) AS g(grain, month) WHERE g.grain <> 1 OR m.month > 0"
)
MAX_SHAPE_DIMS = len(_VALUE_COLUMNS)
MAX_SHAPES = 120  # every shape costs the folder; past this, new kinds of table read summary_wide


def shape_of(numbers) -> int:
    shape = 0
    for number in numbers:
        shape |= 1 << number
    return shape


def dims_of(shape: int) -> tuple[int, ...]:
    return tuple(i for i in range(len(DIMENSIONS)) if shape >> i & 1)


def _values_from(alias: str, dims: Sequence[int], prefix: str) -> tuple[list[str], list[str]]:
    """Expressions for the values of `dims` in a row of summary_deltas or summary_wide named
    `alias` (multi-valued ones unnested by a lateral join), and those joins."""
    exprs, laterals = [], []
    for number in dims:
        dim = DIMENSIONS[number]
        if dim.multi:
            laterals.append(f"CROSS JOIN LATERAL unnest({alias}.{dim.column}) AS {prefix}{number}(v)")
            exprs.append(f"{prefix}{number}.v")
        else:
            exprs.append(f"{alias}.{dim.column}")
    return exprs, laterals


def _cell_values(exprs: list[str], named: bool = False) -> str:
    values = exprs + ["''"] * (MAX_SHAPE_DIMS - len(exprs))
    if named:
        values = [f"{v} AS {name}" for v, name in zip(values, _VALUE_COLUMNS, strict=True)]
    return ", ".join(values)


def fold_sql(shapes: Sequence[int]) -> str:
    """The fold statement for the registered shapes: deltas out, aggregates up, in one go."""
    branches = []
    for shape in shapes:
        exprs, laterals = _values_from("x", dims_of(shape), "u")
        branches.append(
            f"SELECT {shape} AS shape, x.form_id, x.month, x.review, {_cell_values(exprs)}, x.sign "
            f"FROM numbered x {' '.join(laterals)}"
        )
    sorted_columns = ", ".join(
        f"summary_sorted(m.{d.column}) AS {d.column}" if d.multi else f"m.{d.column}" for d in DIMENSIONS
    )
    return f"""
WITH moved AS (
    DELETE FROM summary_deltas
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM summary_deltas LIMIT $1))
    RETURNING *
), numbered AS (
    SELECT m.form_id, m.sign, m.month, m.review, m.rubric_version, {sorted_columns} FROM moved m
), monthly AS (
    SELECT shape, form_id, month, review, {_VALUES}, sum(sign)::integer AS n
    FROM ({" UNION ALL ".join(branches)}) AS e(shape, form_id, month, review, {_VALUES}, sign)
    GROUP BY shape, form_id, month, review, {_VALUES}
), cells AS (
    SELECT m.shape, m.form_id, g.grain, g.month, m.review, {", ".join(f"m.{v}" for v in _VALUE_COLUMNS)},
           sum(m.n)::integer AS n
    FROM monthly m {_GRAINS}
    GROUP BY m.shape, m.form_id, g.grain, g.month, m.review, {", ".join(f"m.{v}" for v in _VALUE_COLUMNS)}
), up_cells AS (
    INSERT INTO summary_cells AS t ({_KEY}, n)
    SELECT {_KEY}, n FROM cells WHERE n <> 0
    ON CONFLICT ON CONSTRAINT summary_cells_pk DO UPDATE SET n = t.n + EXCLUDED.n
    RETURNING 1
), up_wide AS (
    INSERT INTO summary_wide AS t (form_id, month, review, {_WIDE_COLUMNS}, n)
    SELECT form_id, month, review, {_WIDE_COLUMNS}, sum(sign)::integer
    FROM numbered
    GROUP BY form_id, month, review, {_WIDE_COLUMNS}
    HAVING sum(sign) <> 0
    ON CONFLICT ON CONSTRAINT summary_wide_pk DO UPDATE SET n = t.n + EXCLUDED.n
    RETURNING 1
), up_versions AS (
    INSERT INTO summary_versions AS t (form_id, month, review, rubric_version, n)
    SELECT form_id, month, review, rubric_version, sum(sign)::integer
    FROM numbered
    GROUP BY form_id, month, review, rubric_version
    HAVING sum(sign) <> 0
    ON CONFLICT ON CONSTRAINT summary_versions_pk DO UPDATE SET n = t.n + EXCLUDED.n
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS moved,
       (SELECT count(*) FROM up_cells) + (SELECT count(*) FROM up_wide)
       + (SELECT count(*) FROM up_versions) AS upserted
"""


SELECT_SHAPES = "SELECT shape FROM summary_shapes ORDER BY shape"
DELETE_ZERO_CELLS = "DELETE FROM summary_cells WHERE n = 0"
DELETE_ZERO_WIDE = "DELETE FROM summary_wide WHERE n = 0"
DELETE_ZERO_VERSIONS = "DELETE FROM summary_versions WHERE n = 0"
COUNT_PENDING = "SELECT count(*) FROM summary_deltas"
COUNT_PENDING_UP_TO = "SELECT count(*) FROM (SELECT FROM summary_deltas LIMIT $1) AS d"
_fold_statements: dict[tuple[int, ...], str] = {}


async def registered_shapes(conn: asyncpg.Connection) -> tuple[int, ...]:
    return tuple(r["shape"] for r in await conn.fetch(SELECT_SHAPES))


async def fold_deltas(
    conn: asyncpg.Connection, *, batch: int = 20_000, max_batches: int | None = None, wait: bool = False
) -> int:
    """Fold pending deltas into the aggregates, `batch` rows per transaction, until none are
    left (or `max_batches` ran). Returns the number folded. Another folder at work makes it
    return at once (reads stay exact either way: they add the pending deltas), unless `wait`.
    Outside a transaction, a large fold ends with a VACUUM of the deltas, which reads scan."""
    folded = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        async with conn.transaction():
            if wait:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _FOLD_LOCK)
            elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _FOLD_LOCK):
                return folded
            shapes = await registered_shapes(conn)
            if shapes not in _fold_statements:
                _fold_statements[shapes] = fold_sql(shapes)
            row = await conn.fetchrow(_fold_statements[shapes], batch)
            if row["moved"]:
                await conn.execute(DELETE_ZERO_CELLS)
                await conn.execute(DELETE_ZERO_WIDE)
                await conn.execute(DELETE_ZERO_VERSIONS)
        folded += row["moved"]
        batches += 1
        if row["moved"] < batch:
            break
    if folded >= 1000 and not conn.is_in_transaction():
        await conn.execute("VACUUM (SKIP_LOCKED) summary_deltas")
    return folded


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT_PENDING)


async def count_pending_up_to(conn: asyncpg.Connection, limit: int) -> int:
    """The pending deltas, counted up to `limit` (the folder asks often: it reads no more)."""
    return await conn.fetchval(COUNT_PENDING_UP_TO, limit)


async def ensure_shape(conn: asyncpg.Connection, numbers: Sequence[int]) -> int:
    """Register a shape and build its cells from summary_wide (under the folder's lock, so
    that no delta is counted twice or missed: pending ones are folded into it next time)."""
    shape = shape_of(numbers)
    dims = dims_of(shape)
    if not 2 <= len(dims) <= MAX_SHAPE_DIMS:
        raise ValueError(f"a shape has 2 to {MAX_SHAPE_DIMS} dimensions")
    exprs, laterals = _values_from("w", dims, "u")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _FOLD_LOCK)
        created = await conn.fetchval(
            "INSERT INTO summary_shapes (shape, dims) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING shape",
            shape, list(dims),
        )
        if created is not None:
            await conn.execute(
                f"WITH monthly AS (SELECT {shape} AS shape, w.form_id, w.month, w.review, "
                f"{_cell_values(exprs, named=True)}, sum(w.n)::integer AS n FROM summary_wide w {' '.join(laterals)} "
                f"GROUP BY 1, 2, 3, 4, {', '.join(str(5 + i) for i in range(MAX_SHAPE_DIMS))}) "
                f"INSERT INTO summary_cells ({_KEY}, n) "
                f"SELECT m.shape, m.form_id, g.grain, g.month, m.review, "
                f"{', '.join(f'm.{v}' for v in _VALUE_COLUMNS)}, sum(m.n)::integer FROM monthly m {_GRAINS} "
                f"GROUP BY m.shape, m.form_id, g.grain, g.month, m.review, {', '.join(f'm.{v}' for v in _VALUE_COLUMNS)} "
                f"HAVING sum(m.n) <> 0"
            )
    return shape


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountQuery:
    """Counts of persons by `by` (dimension names, at most two, in order), per period."""

    form_ids: Sequence[int]
    by: Sequence[str] = ()
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> any of values
    month_from: int = 0  # YYYYMM, inclusive; 0 = no lower bound (unknown dates included)
    month_to: int = LAST_MONTH
    reviews: Sequence[str] = COUNTED_REVIEW_STATES
    period: str | None = None  # month | quarter | year | None (one period)


_PERIOD_SQL = {
    None: "0",
    "month": "src.month",
    "quarter": "(src.month / 100) * 10 + ((src.month % 100) + 2) / 3",
    "year": "src.month / 100",
}


def month_of(day: date) -> int:
    return day.year * 100 + day.month


def period_label(key: int, period: str | None) -> str | None:
    if period is None or key == 0:
        return None
    if period == "month":
        return f"{key // 100:04d}-{key % 100:02d}"
    if period == "quarter":
        return f"{key // 10:04d}-Q{key % 10}"
    return f"{key:04d}"


WIDE = -1  # the plan that reads summary_wide


def plan(by: Sequence[str], filters: Mapping[str, Sequence[str]], shapes: Sequence[int]) -> tuple[int, bool]:
    """(shape to read, whether it must be built first), or (WIDE, False). A shape may have
    dimensions the query does not name when they are single-valued (summing over them counts
    each person once)."""
    for name, values in filters.items():
        if BY_NAME[name].multi and (len(values) > 1 or name in by):
            return WIDE, False  # "any of several", or grouping by what is filtered: wide counts once
    needed = {BY_NAME[n].number for n in [*by, *filters]}
    best = None
    for shape in shapes:
        dims = set(dims_of(shape))
        if needed <= dims and all(not DIMENSIONS[i].multi for i in dims - needed):
            if best is None or len(dims) < len(dims_of(best)):
                best = shape
    if best is not None:
        return best, False
    if len(needed) > MAX_SHAPE_DIMS or len(shapes) >= MAX_SHAPES:
        return WIDE, False
    return shape_of(needed), True


def _range_sql(alias: str, query: CountQuery, arg) -> str:
    return (
        f"{alias}.form_id = ANY({arg(list(query.form_ids))}::integer[]) "
        f"AND {alias}.month BETWEEN {arg(query.month_from)}::integer AND {arg(query.month_to)}::integer "
        f"AND {alias}.review = ANY({arg(list(query.reviews))}::text[])"
    )



def _grain_sql(query: CountQuery, arg) -> tuple[str, str]:
    """Which rows of summary_cells answer the query's range and period, and their month as
    YYYYMM: all time for a table of everything, years for whole years, else months."""
    whole = (query.month_from, query.month_to) == ALL_TIME
    if query.period is None and whole:
        return "0", "c.grain = 2"
    years = (query.month_from == 0 or query.month_from % 100 == 1) and (
        query.month_to == LAST_MONTH or query.month_to % 100 == 12
    )
    if query.period in (None, "year") and years:
        unknown = " OR (c.grain = 0 AND c.month = 0)" if query.month_from == 0 else ""
        return (
            "CASE WHEN c.grain = 1 THEN c.month * 100 + 1 ELSE c.month END",
            f"(c.grain = 1 AND c.month BETWEEN {arg(query.month_from // 100)}::integer "
            f"AND {arg(query.month_to // 100)}::integer){unknown}",
        )
    return "c.month", (
        f"c.grain = 0 AND c.month BETWEEN {arg(query.month_from)}::integer AND {arg(query.month_to)}::integer"
    )


def count_sql(query: CountQuery, shape: int) -> tuple[str, list]:
    """The statement counting `query` from a shape's cells (or WIDE) plus pending deltas."""
    args: list = []

    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    if shape == WIDE:
        dims = tuple(range(len(DIMENSIONS)))
        columns = f"month, {_WIDE_COLUMNS}"
        source = (
            f"SELECT {columns}, w.n FROM summary_wide w WHERE {_range_sql('w', query, arg)} "
            f"UNION ALL SELECT {columns}, x.sign FROM summary_deltas x WHERE {_range_sql('x', query, arg)}"
        )

        def column(number: int) -> str:
            return f"src.{DIMENSIONS[number].column}"

    else:
        dims = dims_of(shape)
        exprs, laterals = _values_from("x", dims, "u")
        month, rows = _grain_sql(query, arg)
        source = (
            f"SELECT {month} AS month, {_VALUES}, c.n FROM summary_cells c "
            f"WHERE c.shape = {arg(shape)}::integer AND c.form_id = ANY({arg(list(query.form_ids))}::integer[]) "
            f"AND c.review = ANY({arg(list(query.reviews))}::text[]) AND ({rows}) "
            f"UNION ALL SELECT x.month, {_cell_values(exprs)}, x.sign FROM summary_deltas x "
            f"{' '.join(laterals)} WHERE {_range_sql('x', query, arg)}"
        )

        def column(number: int) -> str:
            return f"src.{_VALUE_COLUMNS[dims.index(number)]}"

    where, lateral_by, selected = [], [], []
    for name, values in query.filters.items():
        dim = BY_NAME[name]
        if shape == WIDE and dim.multi:
            where.append(f"{column(dim.number)} && {arg(list(values))}::text[]")
        else:
            where.append(f"{column(dim.number)} = ANY({arg(list(values))}::text[])")
    for index, name in enumerate(query.by):
        dim = BY_NAME[name]
        if shape == WIDE and dim.multi:
            lateral_by.append(f"CROSS JOIN LATERAL unnest({column(dim.number)}) AS g{index}(v)")
            selected.append(f"g{index}.v")
        else:
            selected.append(column(dim.number))
    keys = [_PERIOD_SQL[query.period], *selected]
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    sql = (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, sum(src.n)::bigint AS n "
        f"FROM ({source}) AS src {' '.join(lateral_by)} WHERE {' AND '.join(where) or 'true'} "
        f"GROUP BY {names} HAVING sum(src.n) <> 0"
    )
    return sql, args


def _check(query: CountQuery) -> None:
    for name in [*query.by, *query.filters]:
        if name not in BY_NAME:
            raise ValueError(f"unknown dimension {name!r}")
    if len(query.by) > 2 or len(set(query.by)) != len(query.by):
        raise ValueError("at most two distinct dimensions")
    if query.period not in _PERIOD_SQL:
        raise ValueError(f"unknown period {query.period!r}")


async def count_persons(conn: asyncpg.Connection, query: CountQuery) -> dict[tuple, int]:
    """(period key, value of by[0], value of by[1]) -> count of persons (non-zero only)."""
    _check(query)
    shape, build = plan(query.by, query.filters, await registered_shapes(conn))
    if build:
        numbers = set(dims_of(shape))
        for companion in (0, 2):  # region, sex: single-valued, to sum over
            if len(numbers) < 2:
                numbers.add(companion)
        shape = await ensure_shape(conn, sorted(numbers))
    sql, args = count_sql(query, shape)
    async with conn.transaction():
        # a plan for these very values: a generic plan of these statements can be 3x slower
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await conn.fetch(sql, *args)
    return {tuple(row[:-1]): row["n"] for row in rows}


RUBRIC_VERSIONS = """
SELECT rubric_version FROM (
    SELECT rubric_version, n FROM summary_versions
    WHERE form_id = ANY($1::integer[]) AND month BETWEEN $2 AND $3 AND review = ANY($4::text[])
    UNION ALL
    SELECT rubric_version, sign FROM summary_deltas
    WHERE form_id = ANY($1::integer[]) AND month BETWEEN $2 AND $3 AND review = ANY($4::text[])
) v GROUP BY rubric_version HAVING sum(n) <> 0 ORDER BY rubric_version
"""


async def rubric_versions(conn: asyncpg.Connection, query: CountQuery) -> list[str]:
    rows = await conn.fetch(
        RUBRIC_VERSIONS, list(query.form_ids), query.month_from, query.month_to, list(query.reviews)
    )
    return [r["rubric_version"] for r in rows if r["rubric_version"]]


async def regions_of_districts(conn: asyncpg.Connection, query: CountQuery) -> dict[str, str]:
    """Each district's region (the one most of its screenings name)."""
    counts = await count_persons(
        conn, CountQuery(query.form_ids, ("district", "region"), {}, query.month_from, query.month_to, query.reviews)
    )
    best: dict[str, tuple[int, str]] = {}
    for (_, district, region), n in counts.items():
        if n > best.get(district, (0, ""))[0]:
            best[district] = (n, region)
    return {district: region for district, (_, region) in best.items()}


SCREENING_FORMS = """
SELECT f.id FROM forms f WHERE f.project_id = $1 AND f.xml_form_id = 'risk_screening' ORDER BY f.id
"""


async def screening_form_ids(conn: asyncpg.Connection, project_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(SCREENING_FORMS, project_id)]


# --- a full recount, for tests and for checking a deployment ---------------------------------

RECOUNT_WIDE = f"""
SELECT sc.form_id, summary_month(sc.interview_date) AS month,
       coalesce(s.review_state, 'received') AS review,
       {", ".join(f"summary_sorted(sc.{d.column}) AS {d.column}" if d.multi else f"coalesce(sc.{d.column}, '') AS {d.column}" for d in DIMENSIONS)},
       count(*)::integer AS n
FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
WHERE NOT sc.consent_refused
GROUP BY 1, 2, 3, {", ".join(str(4 + i) for i in range(len(DIMENSIONS)))}
"""
SELECT_WIDE = f"SELECT form_id, month, review, {_WIDE_COLUMNS}, n FROM summary_wide WHERE n <> 0"
SELECT_CELLS = f"SELECT {_KEY}, n FROM summary_cells WHERE n <> 0"
RECOUNT_VERSIONS = """
SELECT sc.form_id, summary_month(sc.interview_date) AS month,
       coalesce(s.review_state, 'received') AS review, coalesce(sc.rubric_version, '') AS rubric_version,
       count(*)::integer AS n
FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
WHERE NOT sc.consent_refused GROUP BY 1, 2, 3, 4
"""
SELECT_VERSIONS = "SELECT form_id, month, review, rubric_version, n FROM summary_versions WHERE n <> 0"


async def recount_differences(conn: asyncpg.Connection) -> list[str]:
    """Compare the folded aggregates with a full recount from `screenings` (a scan: for tests
    and audits only, after `fold_deltas`). Returns what differs; empty when they agree."""
    problems = []
    wide = {tuple(_hashable(v) for v in r[:-1]): r["n"] for r in await conn.fetch(RECOUNT_WIDE)}
    stored = {tuple(_hashable(v) for v in r[:-1]): r["n"] for r in await conn.fetch(SELECT_WIDE)}
    if wide != stored:
        problems.append(f"summary_wide differs: {_diff(wide, stored)}")
    shapes = await registered_shapes(conn)
    cells: dict[tuple, int] = {}
    for key, n in wide.items():
        form_id, month, review, *values = key
        for shape in shapes:
            lists = [list(values[i]) if DIMENSIONS[i].multi else [values[i]] for i in dims_of(shape)]
            grains = [(0, month), (2, 0)] + ([(1, month // 100)] if month > 0 else [])
            for combo in itertools.product(*lists):
                padded = tuple(combo) + ("",) * (MAX_SHAPE_DIMS - len(combo))
                for grain, when in grains:
                    k = (shape, form_id, grain, when, review, *padded)
                    cells[k] = cells.get(k, 0) + n
    stored_cells = {tuple(r[:-1]): r["n"] for r in await conn.fetch(SELECT_CELLS)}
    if cells != stored_cells:
        problems.append(f"summary_cells differs: {_diff(cells, stored_cells)}")
    versions = {tuple(r[:-1]): r["n"] for r in await conn.fetch(RECOUNT_VERSIONS)}
    stored_versions = {tuple(r[:-1]): r["n"] for r in await conn.fetch(SELECT_VERSIONS)}
    if versions != stored_versions:
        problems.append(f"summary_versions differs: {_diff(versions, stored_versions)}")
    return problems


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _diff(expected: dict, got: dict, limit: int = 5) -> str:
    keys = [k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)]
    shown = ", ".join(f"{k}: recount {expected.get(k)} stored {got.get(k)}" for k in keys[:limit])
    return f"{len(keys)} keys ({shown})"


# --- the coordinator's dashboard (microdata: for roles that may read submissions) -------------

SUBMISSIONS_PER_DAY = """
SELECT f.xml_form_id, (s.created_at AT TIME ZONE $3)::date AS day, count(*)::integer AS n
FROM forms f JOIN submissions s ON s.form_id = f.id AND s.created_at >= $2
WHERE f.project_id = $1 AND f.deleted_at IS NULL AND {scope}
GROUP BY 1, 2
"""
PROJECT_FORMS = """
SELECT f.xml_form_id, d.title,
       (SELECT count(*) FROM submissions s WHERE s.form_id = f.id AND {scope})::integer AS total
FROM forms f LEFT JOIN form_defs d ON d.id = f.current_def_id
WHERE f.project_id = $1 AND f.deleted_at IS NULL ORDER BY f.xml_form_id
"""
# The latest flagged screenings not yet approved or rejected: per form, the flagged ones newest
# first (index screenings_flagged_latest, migration 0008) until `limit` unreviewed are found, so
# the cost does not grow with the number of screenings. "Latest" is by submission id (the
# order of arrival). Urgent ones come first among those found.
SCREENINGS_NEEDING_REVIEW = """
SELECT s.instance_id, f.xml_form_id, s.created_at, coalesce(s.review_state, 'received') AS review_state,
       sc.risk_level, sc.urgent, sc.needs_review, sc.region, sc.district, sc.interview_date
FROM forms f
CROSS JOIN LATERAL (
    SELECT sc.* FROM screenings sc
    WHERE sc.form_id = f.id AND (sc.needs_review OR sc.urgent)
      AND EXISTS (SELECT 1 FROM submissions r WHERE r.id = sc.submission_id
                  AND coalesce(r.review_state, 'received') NOT IN ('approved', 'rejected')
                  AND {scope})
    ORDER BY sc.submission_id DESC
    LIMIT $2
) sc
JOIN submissions s ON s.id = sc.submission_id
WHERE f.project_id = $1
ORDER BY sc.urgent DESC, s.id DESC
LIMIT $2
"""


def _scoped(sql: str, args: list, scope: RowScope, alias: str) -> str:
    return sql.replace("{scope}", submission_scope_sql(scope, args, alias) or "true")


async def project_forms(
    conn: asyncpg.Connection, project_id: int, *, scope: RowScope
) -> list[asyncpg.Record]:
    """The project's forms, each with how many submissions of `scope` it has."""
    args: list = [project_id]
    return await conn.fetch(_scoped(PROJECT_FORMS, args, scope, "s"), *args)


async def submissions_per_day(
    conn: asyncpg.Connection, project_id: int, since: date, zone: str = "UTC", *,
    scope: RowScope,
) -> dict[tuple[str, date], int]:
    """Submissions of `scope` per form and day (days of the time zone `zone`) since `since`."""
    args: list = [project_id, since, zone]
    rows = await conn.fetch(_scoped(SUBMISSIONS_PER_DAY, args, scope, "s"), *args)
    return {(r["xml_form_id"], r["day"]): r["n"] for r in rows}


async def screenings_needing_review(
    conn: asyncpg.Connection, project_id: int, limit: int = 20, *, scope: RowScope
) -> list[asyncpg.Record]:
    """The latest screenings of `scope` flagged urgent or needing review, not yet approved or
    rejected."""
    args: list = [project_id, limit]
    return await conn.fetch(_scoped(SCREENINGS_NEEDING_REVIEW, args, scope, "r"), *args)

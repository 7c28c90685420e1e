"""SQL of the summary aggregates (db/migrations/0004_summaries.sql): folding the deltas the
triggers append, and counting tables from the aggregates plus the deltas not folded yet.

Nothing here reads `submissions` or `screenings` for a summary (the dashboard listings at the
end do, for the coordinator's own microdata view). Identifiers in the built queries come only
from the fixed `DIMENSIONS` table below; every value is a `$n` parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg


@dataclass(frozen=True)
class Dimension:
    number: int  # fixed: it is part of the stored pair ids
    name: str  # the API's name
    column: str  # the column in summary_deltas / summary_wide
    multi: bool  # a person counts once in each of their values
    known: tuple[str, ...] = ()  # values always listed (zeros included); others as found


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(0, "region", "region", False, ("TJ-DU", "TJ-SU", "TJ-KT", "TJ-GB", "TJ-RA")),
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
    Dimension(5, "risk_level", "risk_level", False, ("low", "medium", "high")),
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
REVIEW_STATES = ("received", "hasIssues", "edited", "approved", "rejected")
PERIODS = ("month", "quarter", "year")
UNKNOWN = ""  # how an unknown value is stored

_FOLD_LOCK = 7_240_551_004  # advisory lock: one folder at a time
_WIDE_COLUMNS = ", ".join(d.column for d in DIMENSIONS)
_SINGLE = [d for d in DIMENSIONS if not d.multi]
_MULTI = [d for d in DIMENSIONS if d.multi]


def pair_id(i: int, j: int) -> int:
    i, j = min(i, j), max(i, j)
    return 16 * i + j


_DIM_VALUES = " UNION ALL ".join(
    [f"SELECT {d.number}, d.{d.column}" for d in _SINGLE]
    + [f"SELECT {d.number}, v FROM unnest(d.{d.column}) v" for d in _MULTI]
)

FOLD_DELTAS = f"""
WITH moved AS (
    DELETE FROM summary_deltas
    WHERE ctid = ANY (ARRAY(SELECT ctid FROM summary_deltas LIMIT $1))
    RETURNING *
), numbered AS (
    SELECT row_number() OVER () AS ord, m.form_id, m.sign, m.month, m.review, m.rubric_version,
           {", ".join(f"summary_sorted(m.{d.column}) AS {d.column}" if d.multi else f"m.{d.column}" for d in DIMENSIONS)}
    FROM moved m
), dv AS (
    SELECT d.ord, x.dim, x.val
    FROM numbered d CROSS JOIN LATERAL ({_DIM_VALUES}) AS x(dim, val)
), pairs AS (
    SELECT (x.dim * 16 + y.dim)::smallint AS pair, d.form_id, d.month, d.review,
           x.val AS a, y.val AS b, sum(d.sign)::integer AS n
    FROM dv x JOIN dv y ON y.ord = x.ord AND y.dim > x.dim
    JOIN numbered d ON d.ord = x.ord
    GROUP BY 1, 2, 3, 4, 5, 6
), up_pairs AS (
    INSERT INTO summary_pairs AS t (pair, form_id, month, review, a, b, n)
    SELECT pair, form_id, month, review, a, b, n FROM pairs WHERE n <> 0
    ON CONFLICT ON CONSTRAINT summary_pairs_pk DO UPDATE SET n = t.n + EXCLUDED.n
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
       (SELECT count(*) FROM up_pairs) + (SELECT count(*) FROM up_wide)
       + (SELECT count(*) FROM up_versions) AS upserted
"""
DELETE_ZERO_PAIRS = "DELETE FROM summary_pairs WHERE n = 0"
DELETE_ZERO_WIDE = "DELETE FROM summary_wide WHERE n = 0"
DELETE_ZERO_VERSIONS = "DELETE FROM summary_versions WHERE n = 0"
COUNT_PENDING = "SELECT count(*) FROM summary_deltas"


async def fold_deltas(conn: asyncpg.Connection, *, batch: int = 20_000, max_batches: int | None = None) -> int:
    """Fold pending deltas into the aggregates, `batch` rows per transaction, until none are
    left (or `max_batches` ran). Returns the number folded; 0 when another folder holds the
    lock (reads stay exact either way: they add the pending deltas)."""
    folded = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _FOLD_LOCK):
                return folded
            row = await conn.fetchrow(FOLD_DELTAS, batch)
            if row["moved"]:
                await conn.execute(DELETE_ZERO_PAIRS)
                await conn.execute(DELETE_ZERO_WIDE)
                await conn.execute(DELETE_ZERO_VERSIONS)
        folded += row["moved"]
        batches += 1
        if row["moved"] < batch:
            break
    return folded


async def count_pending(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT_PENDING)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountQuery:
    """Counts of persons by `by` (dimension names, at most two, in order), per period."""

    form_ids: Sequence[int]
    by: Sequence[str] = ()
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)  # name -> any of values
    month_from: int = 0  # YYYYMM, inclusive; 0 = no lower bound (unknown dates included)
    month_to: int = 999_912
    reviews: Sequence[str] = ("received", "hasIssues", "edited", "approved")
    period: str | None = None  # month | quarter | year | None (one period)


_PERIOD_SQL = {
    None: "0",
    "month": "month",
    "quarter": "(month / 100) * 10 + ((month % 100) + 2) / 3",
    "year": "month / 100",
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


def plan(by: Sequence[str], filters: Mapping[str, Sequence[str]]) -> int | None:
    """The pair to read for these dimensions and filters, or None for the wide aggregate."""
    dims = list(dict.fromkeys([*by, *filters]))
    for name, values in filters.items():
        dim = BY_NAME[name]
        if dim.multi and (len(values) > 1 or name in by):
            return None  # "any of several" or grouping by what is filtered: count once, in wide
    if len(dims) > 2:
        return None
    numbers = [BY_NAME[n].number for n in dims]
    if len(numbers) == 2:
        return pair_id(*numbers)
    # one dimension or none: pair it with a single-valued one it can be summed over
    companion = 0 if not numbers or numbers[0] != 0 else 2
    return pair_id(numbers[0] if numbers else 2, companion)


def _pair_sql(query: CountQuery, pair: int, args: list) -> str:
    i, j = divmod(pair, 16)
    dim_a, dim_b = DIMENSIONS[i], DIMENSIONS[j]

    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    common = (
        f"form_id = ANY({arg(list(query.form_ids))}::integer[]) "
        f"AND month BETWEEN {arg(query.month_from)}::integer AND {arg(query.month_to)}::integer "
        f"AND review = ANY({arg(list(query.reviews))}::text[])"
    )
    aggregate = f"SELECT month, a, b, n FROM summary_pairs WHERE pair = {arg(pair)}::smallint AND {common}"

    def array_of(d: Dimension) -> str:
        return f"d.{d.column}" if d.multi else f"ARRAY[d.{d.column}]"

    pending = (
        f"SELECT d.month, a, b, d.sign AS n FROM summary_deltas d "
        f"CROSS JOIN LATERAL unnest({array_of(dim_a)}) a CROSS JOIN LATERAL unnest({array_of(dim_b)}) b "
        f"WHERE {common.replace('form_id', 'd.form_id').replace('month BETWEEN', 'd.month BETWEEN').replace('review =', 'd.review =')}"
    )
    where = []
    for name, values in query.filters.items():
        column = "a" if BY_NAME[name] is dim_a else "b"
        where.append(f"{column} = ANY({arg(list(values))}::text[])")
    selected = ["a" if BY_NAME[name] is dim_a else "b" for name in query.by]
    return _grouped(query, f"{aggregate} UNION ALL {pending}", selected, where)


def _wide_sql(query: CountQuery, args: list) -> str:
    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    common = (
        f"form_id = ANY({arg(list(query.form_ids))}::integer[]) "
        f"AND month BETWEEN {arg(query.month_from)}::integer AND {arg(query.month_to)}::integer "
        f"AND review = ANY({arg(list(query.reviews))}::text[])"
    )
    columns = f"month, {_WIDE_COLUMNS}"
    source = (
        f"SELECT {columns}, n FROM summary_wide WHERE {common} "
        f"UNION ALL SELECT {columns}, sign AS n FROM summary_deltas WHERE {common}"
    )
    where = []
    for name, values in query.filters.items():
        dim = BY_NAME[name]
        if dim.multi:
            where.append(f"{dim.column} && {arg(list(values))}::text[]")
        else:
            where.append(f"{dim.column} = ANY({arg(list(values))}::text[])")
    selected = []
    laterals = []
    for index, name in enumerate(query.by):
        dim = BY_NAME[name]
        if dim.multi:
            laterals.append(f"CROSS JOIN LATERAL unnest(src.{dim.column}) AS u{index}(v)")
            selected.append(f"u{index}.v")
        else:
            selected.append(f"src.{dim.column}")
    return _grouped(query, source, selected, where, laterals)


def _grouped(query: CountQuery, source: str, selected: list[str], where: list[str], laterals=()) -> str:
    period = _PERIOD_SQL[query.period].replace("month", "src.month")
    keys = [period, *selected]
    filters = " AND ".join(where) if where else "true"
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    return (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, sum(src.n)::bigint AS n "
        f"FROM ({source}) AS src {' '.join(laterals)} WHERE {filters} "
        f"GROUP BY {names} HAVING sum(src.n) <> 0"
    )


def count_sql(query: CountQuery) -> tuple[str, list]:
    for name in [*query.by, *query.filters]:
        if name not in BY_NAME:
            raise ValueError(f"unknown dimension {name!r}")
    if len(query.by) > 2 or len(set(query.by)) != len(query.by):
        raise ValueError("at most two distinct dimensions")
    if query.period not in _PERIOD_SQL:
        raise ValueError(f"unknown period {query.period!r}")
    args: list = []
    pair = plan(query.by, query.filters)
    sql = _pair_sql(query, pair, args) if pair is not None else _wide_sql(query, args)
    return sql, args


async def count_persons(conn: asyncpg.Connection, query: CountQuery) -> dict[tuple, int]:
    """(period key, value of by[0], value of by[1]) -> count of persons (non-zero only)."""
    sql, args = count_sql(query)
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
SELECT_PAIRS = "SELECT pair, form_id, month, review, a, b, n FROM summary_pairs WHERE n <> 0"
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
    pairs: dict[tuple, int] = {}
    for key, n in wide.items():
        form_id, month, review, *values = key
        expanded = [
            (d.number, list(v) if d.multi else [v]) for d, v in zip(DIMENSIONS, values, strict=True)
        ]
        for x in range(len(expanded)):
            for y in range(x + 1, len(expanded)):
                (i, va), (j, vb) = expanded[x], expanded[y]
                for a in va:
                    for b in vb:
                        k = (pair_id(i, j), form_id, month, review, a, b)
                        pairs[k] = pairs.get(k, 0) + n
    stored_pairs = {tuple(r[:-1]): r["n"] for r in await conn.fetch(SELECT_PAIRS)}
    if pairs != stored_pairs:
        problems.append(f"summary_pairs differs: {_diff(pairs, stored_pairs)}")
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
SELECT f.xml_form_id, (s.created_at AT TIME ZONE 'UTC')::date AS day, count(*)::integer AS n
FROM forms f JOIN submissions s ON s.form_id = f.id AND s.created_at >= $2
WHERE f.project_id = $1 AND f.deleted_at IS NULL
GROUP BY 1, 2
"""
PROJECT_FORMS = """
SELECT f.xml_form_id, d.title,
       (SELECT count(*) FROM submissions s WHERE s.form_id = f.id)::integer AS total
FROM forms f LEFT JOIN form_defs d ON d.id = f.current_def_id
WHERE f.project_id = $1 AND f.deleted_at IS NULL ORDER BY f.xml_form_id
"""
SCREENINGS_NEEDING_REVIEW = """
SELECT s.instance_id, f.xml_form_id, s.created_at, coalesce(s.review_state, 'received') AS review_state,
       sc.risk_level, sc.urgent, sc.needs_review, sc.region, sc.district, sc.interview_date
FROM screenings sc
JOIN submissions s ON s.id = sc.submission_id
JOIN forms f ON f.id = sc.form_id
WHERE f.project_id = $1 AND (sc.needs_review OR sc.urgent)
  AND coalesce(s.review_state, 'received') NOT IN ('approved', 'rejected')
ORDER BY s.created_at DESC, s.id DESC
LIMIT $2
"""


async def project_forms(conn: asyncpg.Connection, project_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(PROJECT_FORMS, project_id)


async def submissions_per_day(
    conn: asyncpg.Connection, project_id: int, since: date
) -> dict[tuple[str, date], int]:
    rows = await conn.fetch(SUBMISSIONS_PER_DAY, project_id, since)
    return {(r["xml_form_id"], r["day"]): r["n"] for r in rows}


async def screenings_needing_review(
    conn: asyncpg.Connection, project_id: int, limit: int = 20
) -> list[asyncpg.Record]:
    """The latest screenings flagged urgent or needing review, not yet approved or rejected."""
    return await conn.fetch(SCREENINGS_NEEDING_REVIEW, project_id, limit)

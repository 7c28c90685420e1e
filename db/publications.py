"""SQL of publications (db/migrations/0012_publications.sql): the frozen snapshots that roles
without microdata see, made once per project and closed month from everything stored at that
moment, and read afterwards without ever looking at `screenings` again.

The population is the one of shared/spec/summaries.md: classified risk screenings that are not
rejected, consent given. Cells are kept by month of interview for no dimension, every
dimension and every pair of dimensions: enough for every table the bounded query language
allows (at most two dimensions and a period), each period's cell summed from its months.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.summaries import DIMENSIONS, shape_of
from forms.record_key import KEY_MODULUS, Cell

_LOCK = 72_405_512  # advisory lock (with the project id): one publisher per project
# Making a publication reads every screening of a project once: at 1M screenings its
# statements take minutes on a small machine, past the pool's usual command timeout.
PUBLISH_TIMEOUT = 3600
_SINGLE = [d for d in DIMENSIONS if not d.multi]
_MULTI = [d for d in DIMENSIONS if d.multi]


@dataclass(frozen=True)
class Publication:
    id: int
    project_id: int
    through_month: int  # YYYYMM
    published_at: datetime
    revised: tuple[int, ...]  # months changed since the publication before (YYYYMM, 0: no date)
    previous_month: int | None  # the publication before, if any
    rubric_versions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.through_month // 100:04d}-{self.through_month % 100:02d}"


POPULATION = f"""
CREATE TEMP TABLE publication_population ON COMMIT DROP AS
SELECT sc.submission_id, sc.version_id, sc.form_id, summary_month(sc.interview_date) AS month,
       sc.record_key, {", ".join(f"summary_sorted(sc.{d.column}) AS {d.column}" if d.multi else f"coalesce(sc.{d.column}, '') AS {d.column}" for d in DIMENSIONS)}
FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
WHERE sc.form_id = ANY($1::integer[]) AND NOT sc.consent_refused AND sc.rubric_version IS NOT NULL
  AND coalesce(s.review_state, 'received') <> 'rejected'
  AND summary_month(sc.interview_date) <= $2
"""
FINGERPRINTS = f"""
SELECT month, md5(string_agg(
    concat_ws('|', submission_id, version_id, record_key, {", ".join(f"array_to_string({d.column}, ',')" if d.multi else d.column for d in DIMENSIONS)}),
    ';' ORDER BY submission_id)) AS fingerprint
FROM publication_population GROUP BY month
"""
MEMBERS = """
INSERT INTO publication_members (publication_id, submission_id, version_id, form_id, month, record_key)
SELECT $1, submission_id, version_id, form_id, month, record_key FROM publication_population
"""
SALTED = f"""
CREATE TEMP TABLE publication_salted ON COMMIT DROP AS
SELECT p.month, ((p.record_key + m.salt) % {KEY_MODULUS})::bigint AS k,
       {", ".join(d.column for d in DIMENSIONS)}
FROM publication_population p JOIN publication_months m ON m.publication_id = $1 AND m.month = p.month
"""


def _grouping_sql() -> list[str]:
    """INSERT statements for every cell shape of up to two dimensions: one statement per set of
    multi-valued dimensions to unnest (a person counts once in each of their values)."""
    statements = []
    single = [d.number for d in _SINGLE]
    families: list[tuple[tuple[int, ...], list[tuple[int, ...]]]] = []
    pairs_single = [()] + [(s,) for s in single] + list(itertools.combinations(single, 2))
    families.append(((), pairs_single))
    for m in _MULTI:
        families.append(((m.number,), [(m.number,)] + [tuple(sorted((m.number, s))) for s in single]))
    for m1, m2 in itertools.combinations([m.number for m in _MULTI], 2):
        families.append(((m1, m2), [(m1, m2)]))
    for unnested, sets in families:
        columns = {}
        laterals = []
        for number in range(len(DIMENSIONS)):
            dim = DIMENSIONS[number]
            if number in unnested:
                laterals.append(f"CROSS JOIN LATERAL unnest(p.{dim.column}) AS u{number}(v)")
                columns[number] = f"u{number}.v"
            elif not dim.multi:
                columns[number] = f"p.{dim.column}"
        used = sorted({n for s in sets for n in s})
        grouping = ", ".join(columns[n] for n in used) if used else "1"
        # GROUPING(c1..cn): bit (n-1-i) set when column i is not grouped
        cases_dims, cases_a, cases_b = [], [], []
        for s in sets:
            bits = sum(1 << (len(used) - 1 - used.index(n)) for n in used if n not in s)
            cases_dims.append(f"WHEN {bits} THEN {shape_of(s)}")
            cases_a.append(f"WHEN {bits} THEN {columns[s[0]] if s else chr(39) * 2}")
            cases_b.append(f"WHEN {bits} THEN {columns[s[1]] if len(s) > 1 else chr(39) * 2}")
        g = f"GROUPING({grouping})" if used else "0"
        sets_sql = ", ".join("(" + ", ".join(columns[n] for n in s) + ")" for s in sets)
        statements.append(
            "INSERT INTO publication_cells (publication_id, dims, month, a, b, n, key_sum) "
            f"SELECT $1, CASE {g} {' '.join(cases_dims)} END, p.month, "
            f"CASE {g} {' '.join(cases_a)} END, CASE {g} {' '.join(cases_b)} END, "
            f"count(*)::integer, (sum(p.k) % {KEY_MODULUS})::bigint "
            f"FROM publication_salted p {' '.join(laterals)} "
            f"GROUP BY p.month, GROUPING SETS ({sets_sql})"
        )
    return statements


_CELL_STATEMENTS = _grouping_sql()

SELECT_PUBLICATION = """
SELECT p.id, p.project_id, p.through_month, p.published_at, p.revised, p.rubric_versions,
       (SELECT max(q.through_month) FROM publications q
        WHERE q.project_id = p.project_id AND q.through_month < p.through_month) AS previous_month
FROM publications p WHERE p.project_id = $1 AND p.through_month = $2
"""
PREVIOUS_MONTHS = """
SELECT m.month, m.fingerprint, m.salt FROM publication_months m
JOIN publications p ON p.id = m.publication_id
WHERE p.id = (SELECT id FROM publications WHERE project_id = $1 AND through_month < $2
              ORDER BY through_month DESC LIMIT 1)
"""


def _publication(row: asyncpg.Record) -> Publication:
    return Publication(
        row["id"], row["project_id"], row["through_month"], row["published_at"],
        tuple(row["revised"]), row["previous_month"], tuple(row["rubric_versions"]),
    )


async def get_publication(conn: asyncpg.Connection, project_id: int, through_month: int) -> Publication | None:
    row = await conn.fetchrow(SELECT_PUBLICATION, project_id, through_month)
    return _publication(row) if row else None


async def publish(
    conn: asyncpg.Connection, project_id: int, form_ids: Sequence[int], through_month: int
) -> Publication:
    """The project's publication through `through_month`: the one made before, or a new one
    from everything stored now (in one transaction, one publisher per project at a time)."""
    found = await get_publication(conn, project_id, through_month)
    if found is not None:
        return found
    # the lock first, the snapshot after it: a publisher that waited sees the one made meanwhile
    await conn.execute("SELECT pg_advisory_lock($1, $2)", _LOCK, project_id)
    try:
        found = await get_publication(conn, project_id, through_month)
        if found is None:
            await _make(conn, project_id, form_ids, through_month)
            found = await get_publication(conn, project_id, through_month)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK, project_id)
    assert found is not None
    return found


async def _make(conn: asyncpg.Connection, project_id: int, form_ids: Sequence[int], through_month: int) -> None:
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute(POPULATION, list(form_ids), through_month, timeout=PUBLISH_TIMEOUT)
        current = {r["month"]: r["fingerprint"] for r in await conn.fetch(FINGERPRINTS, timeout=PUBLISH_TIMEOUT)}
        before = {
            r["month"]: (r["fingerprint"], r["salt"])
            for r in await conn.fetch(PREVIOUS_MONTHS, project_id, through_month)
        }
        previous = await conn.fetchval(
            "SELECT max(through_month) FROM publications WHERE project_id = $1 AND through_month < $2",
            project_id, through_month,
        )
        publication_id = await conn.fetchval(
            "INSERT INTO publications (project_id, through_month) VALUES ($1, $2) RETURNING id",
            project_id, through_month,
        )
        months = []
        revised = []
        for month, fingerprint in sorted(current.items()):
            old = before.get(month)
            if old is not None and old[0] == fingerprint:
                salt = old[1]
            else:
                salt = secrets.randbits(32)
                if previous is not None and month <= previous:  # a late screening, an edit
                    revised.append(month)
            months.append((publication_id, month, fingerprint, salt))
        revised += [m for m in before if m not in current]  # every screening of it left
        await conn.executemany(
            "INSERT INTO publication_months (publication_id, month, fingerprint, salt) VALUES ($1, $2, $3, $4)",
            months,
        )
        await conn.execute(
            "UPDATE publications SET revised = $2, rubric_versions = ARRAY(SELECT DISTINCT sc.rubric_version "
            "FROM publication_population p JOIN screenings sc ON sc.submission_id = p.submission_id "
            "ORDER BY 1) WHERE id = $1",
            publication_id, sorted(revised), timeout=PUBLISH_TIMEOUT,
        )
        await conn.execute(MEMBERS, publication_id, timeout=PUBLISH_TIMEOUT)
        await conn.execute(SALTED, publication_id, timeout=PUBLISH_TIMEOUT)
        for statement in _CELL_STATEMENTS:
            await conn.execute(statement, publication_id, timeout=PUBLISH_TIMEOUT)
        await conn.execute("DROP TABLE publication_salted")
        await conn.execute("DROP TABLE publication_population")


PERIOD_OF_MONTH = {
    None: "0",
    "month": "c.month",
    "quarter": "(c.month / 100) * 10 + ((c.month % 100) + 2) / 3",
    "year": "c.month / 100",
}


async def read_cells(
    conn: asyncpg.Connection,
    publication_id: int,
    dims: Sequence[int],
    *,
    period: str | None,
    month_from: int,
    month_to: int,
    fixed: Mapping[int, str] | None = None,
) -> dict[tuple, Cell]:
    """(period key, values of `dims` in dimension order) -> the cell, summed over the months
    in [month_from, month_to] (month 0, date unknown, counts only in a range from 0). `fixed`:
    dimension number -> the one value it must have (a filter); those dimensions are part of
    `dims` but not of the returned keys. Only cells with persons are returned."""
    numbers = sorted(dims)
    if len(numbers) > 2:
        raise ValueError("a publication keeps cells of at most two dimensions")
    fixed = dict(fixed or {})
    args: list = [publication_id, shape_of(numbers), month_from, month_to]
    where = []
    for column, number in zip(("a", "b"), numbers, strict=False):
        if number in fixed:
            args.append(fixed[number])
            where.append(f"c.{column} = ${len(args)}")
    keys = [PERIOD_OF_MONTH[period]] + [
        column for column, number in zip(("a", "b"), numbers, strict=False) if number not in fixed
    ]
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    sql = (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, sum(c.n)::bigint AS n, "
        f"(sum(c.key_sum) % {KEY_MODULUS})::bigint AS key FROM publication_cells c "
        "WHERE c.publication_id = $1 AND c.dims = $2 AND c.month BETWEEN $3 AND $4 "
        f"{''.join(' AND ' + w for w in where)} GROUP BY {names}"
    )
    rows = await conn.fetch(sql, *args)
    return {tuple(row[:-2]): Cell(row["n"], row["key"]) for row in rows}


async def months_of(conn: asyncpg.Connection, publication_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT month FROM publication_months WHERE publication_id = $1 ORDER BY month", publication_id
    )
    return [r["month"] for r in rows]


STREAM_MEMBERS = f"""
SELECT v.answers, v.created_at, m.month,
       ((m.record_key + pm.salt) % {KEY_MODULUS})::bigint AS record_key  -- as its cells count it
FROM publication_members m
JOIN publication_months pm ON pm.publication_id = m.publication_id AND pm.month = m.month
JOIN submission_versions v ON v.id = m.version_id
WHERE m.publication_id = $1 AND m.form_id = $2 AND m.month BETWEEN $3 AND $4
ORDER BY m.submission_id
"""


async def stream_members(
    conn: asyncpg.Connection, publication_id: int, form_id: int, month_from: int, month_to: int
) -> AsyncIterator[asyncpg.Record]:
    """The answers of the versions a publication counted for one form (within a transaction)."""
    async for row in conn.cursor(STREAM_MEMBERS, publication_id, form_id, month_from, month_to, prefetch=1000):
        yield row

"""SQL of publications (db/migrations/0012_publications.sql): the frozen snapshots that roles
without microdata see, made once per project and closed month from everything stored at that
moment, and read afterwards without ever looking at `screenings` again.

The population is the one of shared/spec/summaries.md: classified risk screenings that are not
rejected, consent given. Cells are kept by month of interview for no dimension, every
dimension and every pair of dimensions: enough for every table the bounded query language
allows (at most two dimensions and a period), each period's cell summed from its months.

The same publication freezes the support-centre cases that reintegration summaries count
(0017): every live case of the `cases` list whose intake was not rejected, in its state at the
end of the publication's month, as the coded values those tables break down by.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from db.pool import session_advisory_lock
from db.secrets import get_secret
from db.summaries import DIMENSIONS, shape_of
from forms.record_key import KEY_MODULUS, Cell, keyed_record_key
from forms.vocabulary import ALL_TIME, FIRST_MONTH, LAST_MONTH
from forms.vocabulary import CASE_LIST as CASES_LIST

_LOCK = 72_405_512  # advisory lock (with the project id): one publisher per project
# Making a publication reads every screening of a project once: at 1M screenings its
# statements take minutes on a small machine, past the pool's usual command timeout.
PUBLISH_TIMEOUT = 3600
# Memory for each sort or hash of a publishing statement (SET LOCAL, this transaction only):
# the GROUPING SETS statements aggregate every screening into dozens of cell shapes at once,
# and with the server's default (4 MB) they sort on disk, pass after pass.
PUBLISH_WORK_MEM = "256MB"
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
    cases_revised: bool = False  # the cases' states differ from the publication before's

    @property
    def label(self) -> str:
        return f"{self.through_month // 100:04d}-{self.through_month % 100:02d}"


POPULATION = f"""
CREATE TEMP TABLE publication_population ON COMMIT DROP AS
SELECT sc.submission_id, sc.version_id, sc.form_id, summary_month(sc.interview_date) AS month,
       sc.record_key, sc.rubric_version, {", ".join(f"summary_sorted(sc.{d.column}) AS {d.column}" if d.multi else f"coalesce(sc.{d.column}, '') AS {d.column}" for d in DIMENSIONS)}
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
# grains of publication_rollups: 1 quarter (period YYYYq), 2 year (YYYY), 3 everything (0);
# a month's cells stay in publication_cells (grain 0). Month 0 (date unknown) is period 0.
QUARTER, YEAR, EVERYTHING = 1, 2, 3
ROLLUPS = f"""
INSERT INTO publication_rollups (publication_id, dims, grain, period, a, b, n, key_sum)
SELECT c.publication_id, c.dims, g.grain,
       CASE g.grain WHEN {QUARTER} THEN (c.month / 100) * 10 + ((c.month % 100) + 2) / 3
                    WHEN {YEAR} THEN c.month / 100 ELSE 0 END AS period,
       c.a, c.b, sum(c.n)::integer, (sum(c.key_sum) % {KEY_MODULUS})::bigint
FROM publication_cells c CROSS JOIN (VALUES ({QUARTER}), ({YEAR}), ({EVERYTHING})) AS g(grain)
WHERE c.publication_id = $1
GROUP BY c.publication_id, c.dims, g.grain, 4, c.a, c.b
"""

_PUBLICATION_COLUMNS = """
SELECT p.id, p.project_id, p.through_month, p.published_at, p.revised, p.rubric_versions,
       p.cases_revised,
       (SELECT max(q.through_month) FROM publications q
        WHERE q.project_id = p.project_id AND q.through_month < p.through_month) AS previous_month
FROM publications p"""
SELECT_PUBLICATION = _PUBLICATION_COLUMNS + " WHERE p.project_id = $1 AND p.through_month = $2"
SELECT_LATEST = (_PUBLICATION_COLUMNS + " WHERE p.project_id = $1 AND p.through_month <= $2 "
                 "ORDER BY p.through_month DESC LIMIT 1")
PREVIOUS_MONTHS = """
SELECT m.month, m.fingerprint FROM publication_months m
JOIN publications p ON p.id = m.publication_id
WHERE p.id = (SELECT id FROM publications WHERE project_id = $1 AND through_month < $2
              ORDER BY through_month DESC LIMIT 1)
"""
# A month's salt is drawn once, by the first publication that has the month, and kept by every
# later one, revised or not: a person's key (record key + salt) never changes, so the same set
# of persons gets the same published value in every publication, and a revision draws anew
# only the cells whose persons changed (one draw per distinct set, not one per publication).
KEPT_SALTS = """
SELECT DISTINCT ON (m.month) m.month, m.salt FROM publication_months m
JOIN publications p ON p.id = m.publication_id
WHERE p.project_id = $1 AND p.through_month < $2
ORDER BY m.month, p.through_month DESC
"""


def _publication(row: asyncpg.Record) -> Publication:
    return Publication(
        row["id"], row["project_id"], row["through_month"], row["published_at"],
        tuple(row["revised"]), row["previous_month"], tuple(row["rubric_versions"]),
        row["cases_revised"],
    )


async def get_publication(conn: asyncpg.Connection, project_id: int, through_month: int) -> Publication | None:
    row = await conn.fetchrow(SELECT_PUBLICATION, project_id, through_month)
    return _publication(row) if row else None


async def latest_publication(conn: asyncpg.Connection, project_id: int, through_month: int) -> Publication | None:
    """The newest publication through `through_month` or an earlier month (None: none yet)."""
    row = await conn.fetchrow(SELECT_LATEST, project_id, through_month)
    return _publication(row) if row else None


PUBLISHABLE_PROJECTS = """
SELECT p.id FROM projects p
WHERE EXISTS (SELECT 1 FROM forms f JOIN screenings sc ON sc.form_id = f.id WHERE f.project_id = p.id)
   OR EXISTS (SELECT 1 FROM datasets d JOIN entities e ON e.dataset_id = d.id
              WHERE d.project_id = p.id AND d.name = $1)
ORDER BY p.id
"""


async def publishable_projects(conn: asyncpg.Connection) -> list[int]:
    """The projects with something to publish: screenings stored, or support-centre cases."""
    return [r["id"] for r in await conn.fetch(PUBLISHABLE_PROJECTS, CASES_LIST)]


class Unsettled(Exception):
    """The data a publication would cover changed within its settling time (an import, a
    reclassification still running): it is not made now, so that none is frozen half-done."""

    def __init__(self, changed_at: datetime):
        super().__init__(f"data changed at {changed_at.isoformat()}")
        self.changed_at = changed_at


# The newest change of anything the publication would cover, read in its own snapshot: a
# screening of a covered month stored, edited, reclassified or reviewed; a case version.
NEWEST_CHANGE = """
SELECT greatest(
    (SELECT max(greatest(sc.classified_at, s.created_at, s.updated_at))
     FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
     WHERE sc.form_id = ANY($1::integer[]) AND summary_month(sc.interview_date) <= $2),
    (SELECT max(v.created_at) FROM datasets d JOIN entities e ON e.dataset_id = d.id
     JOIN entity_defs v ON v.entity_id = e.id WHERE d.project_id = $3 AND d.name = $4)
) AS changed_at, clock_timestamp() AS cut_off
"""


async def publish(
    conn: asyncpg.Connection, project_id: int, form_ids: Sequence[int], through_month: int,
    *, timings: dict[str, float] | None = None, settle_seconds: float = 0,
) -> Publication:
    """The project's publication through `through_month`: the one made before, or a new one
    from everything committed when its transaction takes its snapshot (the cut-off: one
    REPEATABLE READ transaction, so what commits while it is being made is in none of its
    parts; it is the next publication's revision). With `settle_seconds`, a publication is
    made only when nothing it covers changed in that long before the cut-off; otherwise
    `Unsettled` (an import still running is not frozen half-done). One publisher per project
    at a time. `timings`, when given, gets the seconds of each step (bench/summaries.py)."""
    found = await get_publication(conn, project_id, through_month)
    if found is not None:
        return found
    # the lock first, the snapshot after it: a publisher that waited sees the one made meanwhile
    async with session_advisory_lock(conn, _LOCK, project_id):
        found = await get_publication(conn, project_id, through_month)
        if found is None:
            await _make(conn, project_id, form_ids, through_month, {} if timings is None else timings,
                        settle_seconds)
            found = await get_publication(conn, project_id, through_month)
    assert found is not None
    return found


async def _make(conn: asyncpg.Connection, project_id: int, form_ids: Sequence[int], through_month: int,
                timings: dict[str, float], settle_seconds: float = 0) -> None:
    clock = [time.perf_counter()]

    def step(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    async with conn.transaction(isolation="repeatable_read"):
        # the first statement takes the snapshot every later one reads: the cut-off
        if settle_seconds:
            newest = await conn.fetchrow(NEWEST_CHANGE, list(form_ids), through_month, project_id, CASES_LIST,
                                         timeout=PUBLISH_TIMEOUT)
            if (newest["changed_at"] is not None
                    and (newest["cut_off"] - newest["changed_at"]).total_seconds() < settle_seconds):
                raise Unsettled(newest["changed_at"])
            step("settled")
        await conn.execute(f"SET LOCAL work_mem = '{PUBLISH_WORK_MEM}'")
        await conn.execute(POPULATION, list(form_ids), through_month, timeout=PUBLISH_TIMEOUT)
        await conn.execute("ANALYZE publication_population", timeout=PUBLISH_TIMEOUT)
        step("population")
        current = {r["month"]: r["fingerprint"] for r in await conn.fetch(FINGERPRINTS, timeout=PUBLISH_TIMEOUT)}
        step("fingerprints")
        before = {r["month"]: r["fingerprint"] for r in await conn.fetch(PREVIOUS_MONTHS, project_id, through_month)}
        kept = {r["month"]: r["salt"] for r in await conn.fetch(KEPT_SALTS, project_id, through_month)}
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
            if before.get(month) != fingerprint and previous is not None and month <= previous:
                revised.append(month)  # a late screening, an edit, a review, a reclassification
            salt = kept[month] if month in kept else secrets.randbits(32)
            months.append((publication_id, month, fingerprint, salt))
        revised += [m for m in before if m not in current]  # every screening of it left
        await conn.executemany(
            "INSERT INTO publication_months (publication_id, month, fingerprint, salt) VALUES ($1, $2, $3, $4)",
            months,
        )
        await conn.execute(
            "UPDATE publications SET revised = $2, rubric_versions = ARRAY(SELECT DISTINCT rubric_version "
            "FROM publication_population ORDER BY 1) WHERE id = $1",
            publication_id, sorted(revised), timeout=PUBLISH_TIMEOUT,
        )
        step("months")
        await conn.execute(MEMBERS, publication_id, timeout=PUBLISH_TIMEOUT)
        step("members")
        await conn.execute(SALTED, publication_id, timeout=PUBLISH_TIMEOUT)
        await conn.execute("ANALYZE publication_salted", timeout=PUBLISH_TIMEOUT)
        step("salted keys")
        for statement in _CELL_STATEMENTS:
            await conn.execute(statement, publication_id, timeout=PUBLISH_TIMEOUT)
        step("cells")
        await conn.execute(ROLLUPS, publication_id, timeout=PUBLISH_TIMEOUT)
        step("rollups")
        await conn.execute("DROP TABLE publication_salted")
        await conn.execute("DROP TABLE publication_population")
        await _freeze_cases(conn, project_id, publication_id, through_month)
        step("cases")


# --- support-centre cases (reintegration summaries) ------------------------------------------

CASE_KEY_SECRET = "case-record-key"  # migration 0014
# The properties of a case that reintegration tables read (exports/reintegration.py): coded
# values and the dates their quarters come from; nothing else of a case is frozen.
CASE_PROPERTIES = ("status", "opened", "last_visit", "centre", "stage", "close_reason", "region",
                   "sex", "age_band")
# A version's date: its visit, else the case's opening, else the day it was stored.
_VERSION_DATE = ("coalesce(nullif(v.data->>'last_visit', ''), nullif(v.data->>'opened', ''), "
                 "to_char(v.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'))")
CASES_POPULATION = f"""
SELECT DISTINCT ON (e.id) e.uuid::text AS uuid,
       jsonb_strip_nulls(jsonb_build_object({", ".join(f"'{p}', v.data->'{p}'" for p in CASE_PROPERTIES)})) AS state
FROM datasets d
JOIN entities e ON e.dataset_id = d.id AND e.deleted_at IS NULL
JOIN entity_defs v ON v.entity_id = e.id
JOIN entity_defs root ON root.entity_id = e.id AND root.root
LEFT JOIN submissions s ON s.id = root.submission_id
WHERE d.project_id = $1 AND d.name = $2
  AND coalesce(s.review_state, 'received') <> 'rejected'
  AND left({_VERSION_DATE}, 7) <= $3
ORDER BY e.id, v.version DESC
"""


def _month_text(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


async def _freeze_cases(conn: asyncpg.Connection, project_id: int, publication_id: int, through_month: int) -> None:
    """The publication's cases, each with its record key plus the project's case salt (drawn by
    its first publication, kept by every later one: a case keeps its key, so a set of cases
    gets the same published value in every publication; `cases_revised` says whether any
    case's state differs from the publication before's)."""
    rows = await conn.fetch(CASES_POPULATION, project_id, CASES_LIST, _month_text(through_month))
    fingerprint = hashlib.md5(
        ";".join(f"{r['uuid']}={json.dumps(r['state'], sort_keys=True)}" for r in sorted(rows, key=lambda r: r["uuid"])).encode()
    ).hexdigest()
    before = await conn.fetchrow(
        "SELECT cases_fingerprint, cases_salt FROM publications WHERE project_id = $1 AND through_month < $2 "
        "ORDER BY through_month DESC LIMIT 1", project_id, through_month)
    salt = secrets.randbits(32) if before is None else before["cases_salt"]
    revised = before is not None and before["cases_fingerprint"] != fingerprint
    secret = await get_secret(conn, CASE_KEY_SECRET) if rows else b""
    await conn.executemany(
        "INSERT INTO publication_cases (publication_id, record_key, state) VALUES ($1, $2, $3)",
        [(publication_id, (keyed_record_key(secret, r["uuid"]) + salt) % KEY_MODULUS, r["state"]) for r in rows],
    )
    await conn.execute(
        "UPDATE publications SET cases_fingerprint = $2, cases_salt = $3, cases_revised = $4 WHERE id = $1",
        publication_id, fingerprint, salt, revised)


async def read_cases(conn: asyncpg.Connection, publication_id: int) -> list[tuple[int, dict]]:
    """(record key as the publication counts it, state) of every case a publication froze."""
    rows = await conn.fetch(
        "SELECT record_key, state FROM publication_cases WHERE publication_id = $1", publication_id)
    return [(r["record_key"], r["state"]) for r in rows]


PERIOD_OF_MONTH = {
    None: "0",
    "month": "c.month",
    "quarter": "(c.month / 100) * 10 + ((c.month % 100) + 2) / 3",
    "year": "c.month / 100",
}
_FINENESS = {None: 0, "year": 1, "quarter": 2, "month": 3}
_GRAIN_FINENESS = {EVERYTHING: 0, YEAR: 1, QUARTER: 2}


def _rollup(period: str | None, month_from: int, month_to: int) -> tuple[int, str, int, int] | None:
    """The coarsest rollup a table can read instead of summing months: (grain, the period key's
    expression, first and last period code), or None (months). A rollup fits when it is at
    least as fine as the table's period and the range is a union of its whole periods."""
    everything = (month_from, month_to) == ALL_TIME
    for grain in (EVERYTHING, YEAR, QUARTER):
        if _GRAIN_FINENESS[grain] < _FINENESS[period]:
            continue
        if grain == EVERYTHING:
            if everything:
                return grain, "0", 0, 0
            continue
        if not everything and (month_from == FIRST_MONTH or month_to == LAST_MONTH):
            continue
        (y1, m1), (y2, m2) = divmod(month_from, 100), divmod(month_to, 100)
        if grain == YEAR and (everything or (m1 == 1 and m2 == 12)):
            key = "c.period" if period == "year" else "0"
            return (grain, key, 0, 9999) if everything else (grain, key, y1, y2)
        if grain == QUARTER and (everything or (m1 % 3 == 1 and m2 % 3 == 0)):
            key = {"quarter": "c.period", "year": "c.period / 10"}.get(period, "0")
            if everything:
                return grain, key, 0, 99_999
            return grain, key, y1 * 10 + (m1 + 2) // 3, y2 * 10 + m2 // 3
    return None


async def read_cells(conn: asyncpg.Connection, publication_id: int, dims: Sequence[int], **options) -> dict[tuple, Cell]:
    """(period key, values of `dims` in dimension order) -> the cell (`cell_rows`)."""
    return {tuple(row[:-2]): Cell(row[-2], row[-1]) for row in await cell_rows(conn, publication_id, dims, **options)}


async def cell_rows(
    conn: asyncpg.Connection,
    publication_id: int,
    dims: Sequence[int],
    *,
    period: str | None,
    month_from: int,
    month_to: int,
    fixed: Mapping[int, str] | None = None,
    merged: tuple[int, Mapping[str, str]] | None = None,
) -> list[asyncpg.Record]:
    """Rows (period key, values of `dims` in dimension order, n, key) of the cells summed over the months
    in [month_from, month_to] (month 0, date unknown, counts only in a range from 0). `fixed`:
    dimension number -> the one value it must have (a filter); those dimensions are part of
    `dims` but not of the returned keys. `merged`: (dimension number, value -> label) for
    values counted under a label of several (the district guard's "other districts of"): the
    label's cell is the sum of its values' cells, their persons and keys. Only cells with
    persons are returned."""
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
    joins = ""
    columns = {column: f"c.{column}" for column in ("a", "b")}
    for column, number in zip(("a", "b"), numbers, strict=False):
        if merged is not None and merged[0] == number and number not in fixed:
            args += [list(merged[1]), list(merged[1].values())]
            joins = f" LEFT JOIN unnest(${len(args) - 1}::text[], ${len(args)}::text[]) AS m(v, label) ON m.v = c.{column}"
            columns[column] = f"coalesce(m.label, c.{column})"
    rollup = _rollup(period, month_from, month_to)
    if rollup is None:
        source, period_key, span = "publication_cells c", PERIOD_OF_MONTH[period], "c.month BETWEEN $3 AND $4"
    else:
        grain, period_key, args[2], args[3] = rollup
        source, span = "publication_rollups c", f"c.grain = {grain} AND c.period BETWEEN $3 AND $4"
    keys = [period_key] + [
        columns[column] for column, number in zip(("a", "b"), numbers, strict=False) if number not in fixed
    ]
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    sql = (
        f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))}, sum(c.n)::bigint AS n, "
        f"(sum(c.key_sum) % {KEY_MODULUS})::bigint AS key FROM {source}{joins} "
        f"WHERE c.publication_id = $1 AND c.dims = $2 AND {span} "
        f"{''.join(' AND ' + w for w in where)} GROUP BY {names}"
    )
    return await conn.fetch(sql, *args)



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


# --- published tables kept whole (0018) -------------------------------------------------------


async def stored_table(conn: asyncpg.Connection, publication_id: int, k: int, request: str) -> bytes | None:
    return await conn.fetchval(
        "SELECT body FROM publication_tables WHERE publication_id = $1 AND k = $2 AND request = $3",
        publication_id, k, request)


async def stored_requests(conn: asyncpg.Connection, publication_id: int, k: int) -> set[str]:
    rows = await conn.fetch("SELECT request FROM publication_tables WHERE publication_id = $1 AND k = $2",
                            publication_id, k)
    return {r["request"] for r in rows}


async def store_table(conn: asyncpg.Connection, publication_id: int, k: int, request: str, body: bytes) -> None:
    """Keep a table of a publication (the same request always computes the same body)."""
    await conn.execute(
        "INSERT INTO publication_tables (publication_id, k, request, body) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING", publication_id, k, request, body)

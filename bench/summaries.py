"""Summaries benchmark: 1M classified screenings loaded with COPY (not HTTP), folded into the
aggregates by the real folder, then the latency of typical tables (the whole computation the
API does: counts from the aggregates, totals, district guard, suppression), and the cost the
aggregate adds to an ingest (the real INSERT_NEW_SUBMISSION statement at concurrency 32, with
the summary trigger on and off).

    python bench/summaries.py [-n 1000000] [--repeat 15] [--ingest 6000]
    python bench/summaries.py --published-only --keep           # keeps the loaded database
    python bench/summaries.py --published-only --database NAME  # re-publishes it, no loading

Uses DATABASE_URL's server, else the embedded PostgreSQL in .data/bench; a fresh database is
created and dropped (unless --keep; --database reuses a kept one: its publications are
dropped and made again, so that publishing is timed on the same screenings).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import openpyxl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.services.publications import due_month  # noqa: E402
from api.services.summaries import (  # noqa: E402
    PRECOMPUTED_CELLS,
    SummaryRequest,
    build_summary,
    forget_published_tables,
    precompute_tables,
    within_bounds,
)
from db import publications as publications_db  # noqa: E402
from db import submissions as submissions_db  # noqa: E402
from db import summaries  # noqa: E402
from db.migrate import apply_migrations  # noqa: E402
from db.pool import open_pool  # noqa: E402
from exports.disclosure import KEY_MODULUS, Cell, published  # noqa: E402
from forms.screening import SCREENING_COLUMNS  # noqa: E402


def weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


REGION_WEIGHTS = {"TJ-KT": 0.33, "TJ-SU": 0.30, "TJ-RA": 0.20, "TJ-DU": 0.10, "TJ-GB": 0.07}
SEX = {"female": 48, "male": 48, "other": 1, "refused": 3}
AGE_BANDS = {"0-13": (6, 13, 10), "14-17": (14, 17, 15), "18-24": (18, 24, 25),
             "25-34": (25, 34, 22), "35-49": (35, 49, 18), "50+": (50, 80, 10)}
SITES = {"community": 40, "school": 20, "departure_point": 15, "hotline": 8, "support_center": 7,
         "orphanage": 5, "other": 5}
STATUS = {"not_screened": 55, "none": 25, "rights_violation": 10, "incomplete": 4,
          "forced_labour_indicated": 4, "possible_trafficking": 2}
REVIEW = {None: 55, "approved": 38, "hasIssues": 3, "edited": 2, "rejected": 2}
GROUP_ODDS = {"UNDER_EDUCATED": 0.15, "UNEMPLOYED": 0.3, "VOC_GRAD": 0.05, "LABOUR_MIGRANT": 0.35,
              "RETURNEE": 0.08, "PRIOR_VICTIM": 0.04, "MARRIAGE_RISK": 0.06,
              "INTERMEDIARY_EXPOSED": 0.12}
CONTROL = ["physical", "economic", "psychological", "legal_dependence"]
EXPLOITATION = ["domestic", "industrial", "agricultural", "criminal", "sexual", "other"]


def districts_by_region() -> dict[str, list[str]]:
    book = openpyxl.load_workbook(ROOT / "forms" / "library" / "risk_screening.xlsx", read_only=True)
    rows = book["choices"].iter_rows(values_only=True)
    header = next(rows)
    found: dict[str, list[str]] = {}
    for row in rows:
        record = dict(zip(header, row, strict=False))
        if record.get("list_name") == "district":
            found.setdefault(record["region"], []).append(record["name"])
    return found


def screening_values(rng: random.Random, districts: dict[str, list[str]]) -> dict:
    region = weighted(rng, REGION_WEIGHTS)
    names = districts[region]
    district = rng.choices(names, weights=[1 / (i + 1) for i in range(len(names))])[0]  # Zipf
    band = weighted(rng, {b: w for b, (_, _, w) in AGE_BANDS.items()})
    low, high, _ = AGE_BANDS[band]
    status = weighted(rng, STATUS)
    groups = {g for g, p in GROUP_ODDS.items() if rng.random() < p}
    if band in ("0-13", "14-17"):
        groups.add("CHILD")
        if rng.random() < 0.2:
            groups.add("CHILD_LEFT_BEHIND")
    if band == "18-24":
        groups.add("YOUTH")
    if status in ("forced_labour_indicated", "possible_trafficking"):
        groups.add("POSSIBLE_VICTIM")
    screened = status not in ("not_screened", "none")
    level = "high" if status in ("forced_labour_indicated", "possible_trafficking") else (
        weighted(rng, {"low": 60, "medium": 30, "high": 10}))
    return {
        "consent_refused": False, "rubric_version": "2026.1",
        "vulnerability_score": rng.randint(0, 12), "vulnerability_level": level,
        "exploitation_status": status, "urgent": screened and rng.random() < 0.1,
        "risk_level": level, "risk_groups": sorted(groups),
        "control_forms": sorted(rng.sample(CONTROL, rng.randint(1, 2))) if screened else [],
        "exploitation_types": sorted(rng.sample(EXPLOITATION, rng.randint(1, 2))) if screened else [],
        "needs_review": status == "incomplete", "region": region, "district": district,
        "sex": weighted(rng, SEX), "age": rng.randint(low, high), "age_band": band,
        "site_type": weighted(rng, SITES),
        "interview_date": date(rng.randint(2024, 2026), rng.randint(1, 12), rng.randint(1, 28)),
    }


async def create_form(conn: asyncpg.Connection) -> tuple[int, int, int]:
    project = await conn.fetchval("INSERT INTO projects (name) VALUES ($1) RETURNING id", f"bench-{uuid.uuid4().hex[:6]}")
    form = await conn.fetchval(
        "INSERT INTO forms (project_id, xml_form_id) VALUES ($1, 'risk_screening') RETURNING id", project)
    form_def = await conn.fetchval(
        "INSERT INTO form_defs (form_id, version, title, xform, md5, published_at) "
        "VALUES ($1, '1', 'Risk screening', '<h:html/>', 'x', now()) RETURNING id", form)
    await conn.execute("UPDATE forms SET current_def_id = $2 WHERE id = $1", form, form_def)
    return project, form, form_def


async def load(conn: asyncpg.Connection, form: int, form_def: int, n: int, seed: int) -> None:
    """n submissions, their versions and screenings, with COPY."""
    rng = random.Random(seed)
    districts = districts_by_region()
    first_id = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM submissions")
    chunk = 100_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        ids = range(first_id + start, first_id + start + size)
        values = [screening_values(rng, districts) for _ in ids]
        reviews = [weighted(rng, REVIEW) for _ in ids]
        async with conn.transaction():
            await conn.execute("SET CONSTRAINTS ALL DEFERRED")
            await conn.copy_records_to_table(
                "submissions_all", columns=["id", "form_id", "instance_id", "review_state", "current_version_id"],
                records=[(i, form, f"uuid:bench-{i}", r, i) for i, r in zip(ids, reviews, strict=True)])
            await conn.copy_records_to_table(
                "submission_versions",
                columns=["id", "submission_id", "form_id", "form_def_id", "instance_id", "xml", "xml_md5", "answers"],
                records=[(i, i, form, form_def, f"uuid:bench-{i}", b"<data/>", b"0" * 16, "{}") for i in ids])
            await conn.copy_records_to_table(
                "screenings", columns=["submission_id", "version_id", "form_id", *SCREENING_COLUMNS],
                records=[(i, i, form, *[v[c] for c in SCREENING_COLUMNS]) for i, v in zip(ids, values, strict=True)])
        print(f"  loaded {start + size:>9,} screenings", flush=True)
    for table in ("submissions", "submission_versions"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


TABLES = [
    ("risk level by region", SummaryRequest(by=("region", "risk_level"))),
    ("risk groups", SummaryRequest(by=("risk_group",))),
    ("control forms", SummaryRequest(by=("control_form",))),
    ("exploitation types", SummaryRequest(by=("exploitation_type",))),
    ("trend: risk level by quarter", SummaryRequest(by=("risk_level",), period="quarter")),
    ("risk level by region, 2026, by month", SummaryRequest(
        by=("region", "risk_level"), period="month", month_from=202601, month_to=202612)),
    ("risk level by region, 2025 (whole year)", SummaryRequest(
        by=("region", "risk_level"), month_from=202501, month_to=202512)),
    ("risk groups by year", SummaryRequest(by=("risk_group",), period="year")),
    ("districts (guard)", SummaryRequest(by=("district",))),
    ("district x risk group (guard)", SummaryRequest(by=("district", "risk_group"))),
    ("risk groups x exploitation types", SummaryRequest(by=("risk_group", "exploitation_type"))),
    ("age band x sex, approved only", SummaryRequest(by=("age_band", "sex"), reviews=("approved",))),
    ("risk level by region, women", SummaryRequest(
        by=("region", "risk_level"), filters={"sex": ("female",)})),
    ("risk groups by age band in Sughd", SummaryRequest(
        by=("age_band", "risk_group"), filters={"region": ("TJ-SU",)})),
    ("girls 14-17 in Khatlon by control form, quarterly", SummaryRequest(
        by=("control_form",), period="quarter",
        filters={"region": ("TJ-KT",), "sex": ("female",), "age_band": ("14-17",)})),
    ("district x risk level, hotline calls", SummaryRequest(
        by=("district", "risk_level"), filters={"site_type": ("hotline",)})),
    ("region x risk level, girls 14-17 at schools (5 dims: wide)", SummaryRequest(
        by=("region", "risk_level"),
        filters={"sex": ("female",), "age_band": ("14-17",), "site_type": ("school",)})),
]


# What roles without microdata may ask (at most two dimensions, breakdowns and filters
# together; no review state): the tables above that fit, and a few more.
PUBLISHED_TABLES = [(label, request) for label, request in TABLES if within_bounds(request) and
                    request.reviews == SummaryRequest().reviews] + [
    ("district x risk level by month (guard)", SummaryRequest(by=("district", "risk_level"), period="month")),
    ("risk level, women", SummaryRequest(by=("risk_level",), filters={"sex": ("female",)})),
    ("risk groups in Sughd, quarterly", SummaryRequest(
        by=("risk_group",), period="quarter", filters={"region": ("TJ-SU",)})),
    ("control forms, girls and boys 14-17, 2026-Q1", SummaryRequest(
        by=("control_form",), month_from=202601, month_to=202603, filters={"age_band": ("14-17",)})),
    ("districts, hotline calls (guard)", SummaryRequest(by=("district",), filters={"site_type": ("hotline",)})),
    # large, with a filter or a range: computed when first asked for, then read whole
    ("districts by month, hotline calls (guard; kept when asked)", SummaryRequest(
        by=("district",), period="month", filters={"site_type": ("hotline",)})),
    ("district x risk level by month, 2026 (guard; kept when asked)", SummaryRequest(
        by=("district", "risk_level"), period="month", month_from=202601, month_to=202612)),
]


async def time_published(pool: asyncpg.Pool, project: int, form: int, repeat: int, k: int = 10) -> None:
    """Publishing (once a month) and the tables roles without microdata read from it."""
    from datetime import UTC, datetime

    through = due_month(datetime.now(UTC), 7)
    async with pool.acquire() as conn:
        began = time.perf_counter()
        steps: dict[str, float] = {}
        publication = await publications_db.publish(conn, project, [form], through, timings=steps)
        elapsed = time.perf_counter() - began
        cells = await conn.fetchval("SELECT count(*) FROM publication_cells WHERE publication_id = $1", publication.id)
        print(f"\nPublication through {publication.label}: made in {elapsed:.1f} s, {cells:,} month cells")
        print("  " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items()))
        await conn.execute("VACUUM ANALYZE publication_cells")
        await conn.execute("VACUUM ANALYZE publication_rollups")
        began = time.perf_counter()
        kept = await precompute_tables(conn, publication, k)
        print(f"  {kept} large tables (>= {PRECOMPUTED_CELLS} cells, no filter or range) computed and kept "
              f"whole in {time.perf_counter() - began:.1f} s")
        print(f"\nPublished table latency (ms; the first call, then {repeat} more from the publication "
              f"(p50, min, max: computed, or read whole for a large table), then asked again (the "
              f"server keeps a frozen table in memory: cached); cells + totals + district guard + "
              f"cell-key perturbation, k={k}):")
        print(f"  {'table':58} {'first':>7} {'p50':>7} {'min':>7} {'max':>7} {'cached':>7} {'cells':>6}")
        for label, request in PUBLISHED_TABLES:
            request = request.with_forms([form])
            forget_published_tables()
            began = time.perf_counter()
            result = await build_summary(conn, request, k, publication)
            first = (time.perf_counter() - began) * 1000
            times = []
            for _ in range(repeat):
                forget_published_tables()
                began = time.perf_counter()
                result = await build_summary(conn, request, k, publication)
                times.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            await build_summary(conn, request, k, publication)
            cached = (time.perf_counter() - began) * 1000
            n_cells = sum(len(t.table.cells) for t in result.slices)
            print(f"  {label:58} {first:7.1f} {statistics.median(times):7.1f} {min(times):7.1f} "
                  f"{max(times):7.1f} {cached:7.2f} {n_cells:6}")
        # utility over every cell of the publication (no dimension, each, each pair), for all
        # time and by month
        for grain, period in (("all time", "0"), ("by month", "month")):
            rows = await conn.fetch(
                f"SELECT dims, {period} AS p, a, b, sum(n)::bigint AS n, "
                f"(sum(key_sum) % {KEY_MODULUS})::bigint AS key FROM publication_cells "
                "WHERE publication_id = $1 GROUP BY 1, 2, 3, 4", publication.id)
            adjustments, suppressed = [], 0
            for row in rows:
                value = published(Cell(row["n"], row["key"]), k)
                if value is None:
                    suppressed += 1
                else:
                    adjustments.append(abs(value - row["n"]))
            print(f"\nUtility, {grain} ({len(rows):,} non-empty cells of up to two dimensions): median "
                  f"absolute adjustment {statistics.median(adjustments) if adjustments else 0:.1f} (mean "
                  f"{statistics.mean(adjustments) if adjustments else 0:.2f}); {suppressed / len(rows):.1%} "
                  f"suppressed (fewer than {k} persons)")


async def time_tables(pool: asyncpg.Pool, form: int, repeat: int) -> None:
    print(f"\nTable latency over the aggregates, live (roles with microdata; ms; the first call, then "
          f"{repeat} more; counts + totals):")
    print(f"  {'table':58} {'first':>7} {'p50':>7} {'max':>7} {'cells':>6}")
    async with pool.acquire() as conn:
        for label, request in TABLES:
            request = request.with_forms([form])
            began = time.perf_counter()
            result = await build_summary(conn, request, None)
            first = (time.perf_counter() - began) * 1000
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                result = await build_summary(conn, request, None)
                times.append((time.perf_counter() - began) * 1000)
            cells = sum(len(t.table.cells) for t in result.slices)
            print(f"  {label:58} {first:7.1f} {statistics.median(times):7.1f} {max(times):7.1f} {cells:6}")


DELTA_COLUMNS = ["form_id", "sign", "month", "review", "rubric_version"] + [d.column for d in summaries.DIMENSIONS]


def upsert_at_once_sql(shapes) -> str:
    """The rejected design, for comparison: every ingest upserts its aggregate cells itself
    (the fold's statement applied to the one new delta, before it is stored)."""
    fold = summaries.fold_sql(shapes)
    start = fold.index("moved AS (")
    end = fold.index("), numbered AS")
    one_row = "moved AS (SELECT " + ", ".join(f"NEW.{c} AS {c}" for c in DELTA_COLUMNS)
    body = fold[:start] + one_row + fold[end:]
    body = body.replace("SELECT (SELECT count(*) FROM moved) AS moved,", "SELECT (SELECT count(*) FROM moved),")
    return (
        "CREATE FUNCTION bench_upsert_at_once() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "DECLARE moved_n bigint; upserted_n bigint;\nBEGIN\n" + body.strip() + " INTO moved_n, upserted_n;\nRETURN NULL;\nEND\n$fn$;\n"
        "CREATE TRIGGER bench_upsert_at_once BEFORE INSERT ON summary_deltas "
        "FOR EACH ROW EXECUTE FUNCTION bench_upsert_at_once();"
    )


async def ingest_cost(dsn: str, form: int, form_def: int, n: int, concurrency: int) -> None:
    """The real new-submission statement, with and without the summary trigger, and with the
    rejected design (upserting the aggregate cells in the ingest's own transaction)."""
    rng = random.Random(5)
    districts = districts_by_region()
    answers = json.dumps({"consent": "yes"})
    xml = b"<data>" + b"x" * 2000 + b"</data>"

    async def run(label: str) -> None:
        pool = await open_pool(dsn, min_size=concurrency, max_size=concurrency)
        todo = [screening_values(rng, districts) for _ in range(n)]
        latencies: list[float] = []
        failures: list[str] = []

        async def worker() -> None:
            async with pool.acquire() as conn:
                while todo:
                    values = todo.pop()
                    began = time.perf_counter()
                    try:
                        await insert(conn, values)
                    except asyncpg.PostgresError as exc:
                        failures.append(type(exc).__name__)
                        continue
                    latencies.append((time.perf_counter() - began) * 1000)

        async def insert(conn, values) -> None:
                    await submissions_db.insert_new_submission(
                        conn, form_id=form, form_def_id=form_def, instance_id=f"uuid:{uuid.uuid4()}",
                        instance_name=None, xml=xml, xml_md5=hashlib.md5(xml).digest(),
                        answers=json.loads(answers), submitter_id=None, device_id=None,
                        user_agent=None, expected_attachments=[], uploaded={}, screening=values)

        began = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - began
        await pool.close()
        latencies.sort()
        if not latencies:
            print(f"  {label:40} all failed: {failures[0]}")
            return
        failed = f"  {len(failures)} failed ({', '.join(sorted(set(failures)))})" if failures else ""
        print(f"  {label:40} {len(latencies) / elapsed:6.0f}/s  p50 {statistics.median(latencies):6.2f} ms  "
              f"p99 {latencies[int(len(latencies) * 0.99)]:7.2f} ms{failed}")

    print(f"\nIngest cost (INSERT_NEW_SUBMISSION, {n} rows each, concurrency {concurrency}):")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER TABLE screenings DISABLE TRIGGER summary_screening_changed")
        await run("without the summary trigger")
        await conn.execute("ALTER TABLE screenings ENABLE TRIGGER summary_screening_changed")
        await run("with the summary trigger")
        await conn.execute("ALTER TABLE screenings DISABLE TRIGGER summary_screening_changed")
        await run("without the summary trigger (again)")
        await conn.execute("ALTER TABLE screenings ENABLE TRIGGER summary_screening_changed")
        await run("with the summary trigger (again)")
        pending = await summaries.count_pending(conn)
        began = time.perf_counter()
        folded = await summaries.fold_deltas(conn)
        elapsed = time.perf_counter() - began
        print(f"  folding the {pending} deltas those ingests left: {elapsed:.2f} s "
              f"({folded / elapsed:,.0f} deltas/s, one folder, off the ingest path)")
        await conn.execute(upsert_at_once_sql(await summaries.registered_shapes(conn)))
        await run("rejected design: upsert cells at ingest")
        await conn.execute("DROP TRIGGER bench_upsert_at_once ON summary_deltas")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--ingest", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--database", help="a database kept by --keep: publish and time it again, no loading")
    parser.add_argument("--published-only", action="store_true",
                        help="only the publication and its tables (no folding, live tables or ingest cost)")
    args = parser.parse_args()

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        from db.embedded import start_embedded_postgres

        server_url = start_embedded_postgres(ROOT / ".data" / "bench")
    dbname = args.database or f"fieldsurvey_bench_summaries_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    if not args.database:
        await admin.execute(f'CREATE DATABASE "{dbname}"')
    dsn = urlunsplit(urlsplit(server_url)._replace(path=f"/{dbname}"))
    try:
        conn = await asyncpg.connect(dsn)
        await apply_migrations(conn)
        if args.database:
            print(f"Database {dbname} as loaded before; its publications dropped and made again")
            project, form = await conn.fetchrow(
                "SELECT project_id, id FROM forms WHERE xml_form_id = 'risk_screening' ORDER BY id LIMIT 1")
            await conn.execute("DELETE FROM publications WHERE project_id = $1", project)
            await conn.close()
            pool = await open_pool(dsn, min_size=1, max_size=2)
            await time_published(pool, project, form, args.repeat)
            await pool.close()
            return
        print(f"Database {dbname}" + (" (kept)" if args.keep else ""))
        project, form, form_def = await create_form(conn)
        print(f"Loading {args.n:,} classified screenings with COPY (the trigger appends their deltas):")
        began = time.perf_counter()
        await load(conn, form, form_def, args.n, seed=1)
        print(f"  {time.perf_counter() - began:.1f} s")
        if args.published_only:
            await conn.close()
            pool = await open_pool(dsn, min_size=1, max_size=2)
            await time_published(pool, project, form, args.repeat)
            await pool.close()
            return
        began = time.perf_counter()
        folded = await summaries.fold_deltas(conn, batch=50_000)
        elapsed = time.perf_counter() - began
        print(f"Folded {folded:,} deltas in {elapsed:.1f} s ({folded / elapsed:,.0f} deltas/s)")
        await conn.execute("VACUUM ANALYZE summary_deltas")
        await conn.execute("VACUUM ANALYZE summary_cells")
        await conn.execute("VACUUM ANALYZE summary_wide")
        await conn.execute("VACUUM ANALYZE summary_versions")
        sizes = await conn.fetch(
            "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) AS size "
            "FROM pg_stat_user_tables WHERE relname LIKE 'summary_%' ORDER BY relname")
        for row in sizes:
            print(f"  {row['relname']:18} {row['n_live_tup']:>10,} rows  {row['size']}")
        await conn.close()
        pool = await open_pool(dsn, min_size=1, max_size=2)
        await time_tables(pool, form, args.repeat)
        await time_published(pool, project, form, args.repeat)
        await pool.close()
        await ingest_cost(dsn, form, form_def, args.ingest, args.concurrency)
    finally:
        if not args.keep and not args.database:
            await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

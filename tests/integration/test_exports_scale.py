"""100k risk screenings exported as XLSX and CSV zip: every row is there, and the process's
memory does not grow with the number of submissions.

Rows are generated in Python (a pool of distinct answer sets, each submission a new
instanceID), loaded with COPY into a staging table and moved into the real tables in SQL.
The export runs the route's own body (`stream_records_into`: its own connection, a
server-side cursor) and writes the chunks to a file, as a client would receive them.
Memory: the resident set size is sampled every few milliseconds; the peak growth of a 100k
export must stay within a few MB of a 20k export's (flat), and below an absolute bound.

`generate_risk_screenings` and `measure_export` are shared with bench/exports.py.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import threading
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec

from api.services.exports import (
    ExportTarget,
    SubmissionFilter,
    export_layout,
    stream_records_into,
)
from exports.csv import stream_csv_zip
from exports.layout import merge_versions
from exports.xlsx import stream_xlsx
from forms.compile import compile_xlsform
from forms.schema import Field, FormSchema, parse_xform
from forms.screening import screening_row

ROOT = Path(__file__).resolve().parents[2]
RISK_SCREENING_XLSX = ROOT / "forms" / "library" / "risk_screening.xlsx"
START = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = os.sysconf("SC_PAGE_SIZE")


def _value(f: Field, rng: random.Random) -> str | None:
    if f.type == "select_one" and f.choices:
        return rng.choice(f.choices).name
    if f.type == "select_multiple" and f.choices:
        return " ".join(c.name for c in rng.sample(f.choices, rng.randint(1, 3)))
    if f.type == "int":
        return str(rng.randint(10, 70))
    if f.type == "decimal":
        return f"{rng.uniform(0, 1000):.2f}"
    if f.type == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if f.type == "dateTime":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:{rng.randint(10, 59)}:00.000+05:00"
    if f.type in ("note",):
        return None
    return rng.choice(["yes", "no", "device-" + str(rng.randint(1, 50))])


def _answers(fields: tuple[Field, ...], rng: random.Random) -> dict:
    out: dict = {}
    for f in fields:
        if f.kind == "repeat":
            out[f.name] = [_answers(f.children, rng) for _ in range(rng.randint(0, 2))]
        elif f.type == "structure":
            out[f.name] = _answers(f.children, rng)
        else:
            out[f.name] = _value(f, rng)
    return out


def answer_pool(schema: FormSchema, size: int = 400, seed: int = 7) -> list[tuple[dict, dict]]:
    """Distinct (answers, screening row) pairs; consent always given."""
    rng = random.Random(seed)
    pool = []
    for _ in range(size):
        answers = _answers(schema.fields, rng)
        if "consent" in answers:
            answers["consent"] = "yes"
        pool.append((answers, screening_row(answers)))
    return pool


STAGE = """
CREATE TEMP TABLE export_stage (
    n integer, instance_id text, created_at timestamptz, answers text, pool integer
) ON COMMIT DROP
"""
SCREENING_STAGE = """
CREATE TEMP TABLE export_screening_stage (
    pool integer, consent_refused boolean, rubric_version text, vulnerability_score integer,
    vulnerability_level text, exploitation_status text, urgent boolean, risk_level text,
    risk_groups text[], control_forms text[], exploitation_types text[], needs_review boolean
) ON COMMIT DROP
"""
MOVE = """
WITH sub AS (
    INSERT INTO submissions (form_id, instance_id, device_id, created_at)
    SELECT $1, instance_id, 'collect:bench', created_at FROM export_stage ORDER BY n
    RETURNING id, instance_id
), ver AS (
    INSERT INTO submission_versions (submission_id, form_id, form_def_id, instance_id, xml,
                                     xml_md5, answers)
    SELECT sub.id, $1, $2, sub.instance_id, convert_to('<data/>', 'UTF8'),
           decode(md5(sub.instance_id), 'hex'), st.answers::jsonb
    FROM sub JOIN export_stage st USING (instance_id)
    RETURNING id, submission_id, instance_id
)
INSERT INTO screenings (submission_id, version_id, form_id, consent_refused, rubric_version,
    vulnerability_score, vulnerability_level, exploitation_status, urgent, risk_level,
    risk_groups, control_forms, exploitation_types, needs_review)
SELECT ver.submission_id, ver.id, $1, sc.consent_refused, sc.rubric_version,
    sc.vulnerability_score, sc.vulnerability_level, sc.exploitation_status, sc.urgent,
    sc.risk_level, sc.risk_groups, sc.control_forms, sc.exploitation_types, sc.needs_review
FROM ver JOIN export_stage st USING (instance_id)
JOIN export_screening_stage sc ON sc.pool = st.pool
"""
# a statement's CTEs cannot update rows that a sibling CTE inserted: a second statement
SET_CURRENT = """
UPDATE submissions s SET current_version_id = v.id
FROM submission_versions v
WHERE v.submission_id = s.id AND s.form_id = $1 AND s.current_version_id IS NULL
"""


async def generate_risk_screenings(
    conn: asyncpg.Connection, form_id: int, form_def_id: int, schema: FormSchema, count: int
) -> None:
    """`count` risk screenings, one a minute from START, loaded with COPY."""
    pool = answer_pool(schema)
    encoded = [msgspec.json.encode(a).decode() for a, _ in pool]
    async with conn.transaction():
        await conn.execute(STAGE)
        await conn.execute(SCREENING_STAGE)
        await conn.copy_records_to_table(
            "export_screening_stage",
            records=[
                (
                    n,
                    row["consent_refused"],
                    row["rubric_version"],
                    row["vulnerability_score"],
                    row["vulnerability_level"],
                    row["exploitation_status"],
                    row["urgent"],
                    row["risk_level"],
                    row["risk_groups"],
                    row["control_forms"],
                    row["exploitation_types"],
                    row["needs_review"],
                )
                for n, (_, row) in enumerate(pool)
            ],
        )
        batch = 20_000
        for first in range(0, count, batch):
            await conn.copy_records_to_table(
                "export_stage",
                records=[
                    (
                        n,
                        f"uuid:{uuid.UUID(int=n + 1)}",
                        START + timedelta(minutes=n),
                        encoded[n % len(encoded)],
                        n % len(encoded),
                    )
                    for n in range(first, min(first + batch, count))
                ],
            )
        await conn.execute(MOVE, form_id, form_def_id)
        await conn.execute(SET_CURRENT, form_id)


class PeakRss:
    """Samples this process's resident set size in a thread."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


async def measure_export(dsn: str, target: ExportTarget, fmt: str, out: Path) -> dict:
    """Export to `out`; seconds to the first byte, total seconds, bytes, RSS before/peak."""
    layout = export_layout(
        target,
        fields=None,
        group_paths=True,
        split_select_multiples=fmt == "xlsx",
        spreadsheet=fmt == "xlsx",
    )

    def write(records):
        if fmt == "xlsx":
            return stream_xlsx(records, layout)
        return stream_csv_zip(records, layout)

    before = PeakRss.current()
    started = time.perf_counter()
    first = None
    size = 0
    with PeakRss() as rss, out.open("wb") as sink:
        async for chunk in stream_records_into(dsn, target, write):
            if first is None:
                first = time.perf_counter() - started
            sink.write(chunk)
            size += len(chunk)
    return {
        "format": fmt,
        "first_byte_s": first,
        "total_s": time.perf_counter() - started,
        "bytes": size,
        "rss_before": before,
        "rss_peak": rss.peak,
    }


def count_rows(path: Path, fmt: str) -> int:
    with zipfile.ZipFile(path) as archive:
        if fmt == "xlsx":
            pattern = re.compile(rb"<row ")
            total, tail = 0, b""
            with archive.open("xl/worksheets/sheet1.xml") as sheet:
                while chunk := sheet.read(1 << 20):
                    total += len(pattern.findall(tail + chunk)) - len(pattern.findall(tail))
                    tail = chunk[-8:]
            return total - 1
        name = next(n for n in archive.namelist() if "-" not in n)
        with archive.open(name) as root:
            return sum(1 for _ in root) - 1


async def load_risk_screening_target(conn, project_id: int) -> tuple[int, int, FormSchema]:
    from api.services.forms import create_form

    compiled = compile_xlsform(RISK_SCREENING_XLSX.read_bytes(), validate=False)
    async with conn.transaction():
        await create_form(conn, None, project_id, compiled, None, publish=True)
    row = await conn.fetchrow(
        "SELECT f.id, f.current_def_id FROM forms f WHERE f.project_id = $1 AND f.xml_form_id = $2",
        project_id,
        compiled.xml_form_id,
    )
    return row["id"], row["current_def_id"], parse_xform(compiled.xform)


COUNT = 100_000
SMALL = 20_000
MB = 1 << 20


async def test_100k_export_rows_and_flat_memory(pool, database_url) -> None:
    async with pool.acquire() as conn:
        project_id = await conn.fetchval(
            "INSERT INTO projects (name) VALUES ($1) RETURNING id", f"scale-{uuid.uuid4().hex[:8]}"
        )
        form_id, def_id, schema = await load_risk_screening_target(conn, project_id)
        await generate_risk_screenings(conn, form_id, def_id, schema, COUNT)
    merged = merge_versions([schema])
    everything = ExportTarget(project_id, schema.xml_form_id, form_id, merged)
    first_small = ExportTarget(
        project_id,
        schema.xml_form_id,
        form_id,
        merged,
        SubmissionFilter(until=START + timedelta(minutes=SMALL)),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("xlsx", "csv.zip"):
            small = await measure_export(database_url, first_small, fmt, Path(tmp) / f"s.{fmt}")
            large = await measure_export(database_url, everything, fmt, Path(tmp) / f"l.{fmt}")
            assert count_rows(Path(tmp) / f"s.{fmt}", fmt) == SMALL
            assert count_rows(Path(tmp) / f"l.{fmt}", fmt) == COUNT
            small_growth = small["rss_peak"] - small["rss_before"]
            large_growth = large["rss_peak"] - small["rss_before"]
            print(
                f"{fmt}: 100k in {large['total_s']:.1f} s, first byte {large['first_byte_s']:.2f} s,"
                f" peak RSS growth {large_growth / MB:.1f} MB (20k: {small_growth / MB:.1f} MB)"
            )
            # flat: five times the rows adds (almost) nothing to the peak
            assert large_growth - small_growth < 16 * MB, (fmt, small, large)
            assert large_growth < 100 * MB, (fmt, large)
            # streamed: the first bytes leave long before the last row is read (the seconds
            # themselves are bench/exports.py's figures, not a test's: they follow the load)
            assert large["first_byte_s"] < large["total_s"] / 5, large

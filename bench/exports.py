"""Export benchmark: N risk screenings (default 100k) exported as XLSX and as CSV zip.

Prints, per format: seconds to the first byte, total seconds, rows/s, the bytes written and
the peak RSS of the process that exported (each export runs in a fresh child process, so
the figure is that of a server process doing only this). Then, unless --no-compare, the
XLSX writers alone on the same N typed rows (no database): this project's streaming writer,
openpyxl in write-only mode, and xlsxwriter in constant_memory mode (when installed; it is
not a dependency of the project), to show why the project writes its own.

    python bench/exports.py [-n 100000] [--no-compare]

Uses DATABASE_URL's server, or the embedded PostgreSQL in a temporary directory; a fresh
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.services.exports import ExportTarget  # noqa: E402
from bench.harness import create_database, database_server, drop_database  # noqa: E402
from db.migrate import apply_migrations  # noqa: E402
from db.pool import connect  # noqa: E402
from exports.layout import ExportOptions, build_layout, merge_versions  # noqa: E402
from forms.compile import compile_xlsform  # noqa: E402
from forms.schema import parse_xform  # noqa: E402
from tests.integration.test_exports_scale import (  # noqa: E402
    RISK_SCREENING_XLSX,
    answer_pool,
    count_rows,
    generate_risk_screenings,
    load_risk_screening_target,
    measure_export,
)

MB = 1 << 20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def child_export(dsn: str, project_id: int, form_id: int, fmt: str, out: str) -> dict:
    conn = await connect(dsn)
    try:
        xform = await conn.fetchval(
            "SELECT d.xform FROM forms f JOIN form_defs d ON d.id = f.current_def_id "
            "WHERE f.id = $1",
            form_id,
        )
    finally:
        await conn.close()
    schema = parse_xform(xform)
    target = ExportTarget(project_id, schema.xml_form_id, form_id, merge_versions([schema]))
    result = await measure_export(dsn, target, fmt, Path(out))
    result["rows"] = count_rows(Path(out), fmt)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def typed_rows(n: int):
    """N root rows of the risk screening, typed as the XLSX export types them."""
    from exports.flatten import RowBuilder
    from exports.xlsx import _converter

    schema = parse_xform(compile_xlsform(RISK_SCREENING_XLSX.read_bytes(), validate=False).xform)
    layout = build_layout(
        merge_versions([schema]),
        ExportOptions(split_select_multiples=True, include_notes=False, screening=True),
    )
    builder = RowBuilder(layout)
    converters = [
        (i, c)
        for i, col in enumerate(layout.tables[0].columns)
        if (c := _converter(col, None, None, False)) is not None
    ]
    pool = answer_pool(schema)
    header = [c.name for c in layout.tables[0].columns]
    base = {
        "submitter_id": 1,
        "submitter_name": "Bench",
        "device_id": "collect:bench",
        "review_state": None,
        "edits": 0,
        "attachments_present": 0,
        "attachments_expected": 0,
        "form_version": schema.version,
    }
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)

    def rows():
        for n in range(n_rows):
            answers, screening = pool[n % len(pool)]
            record = {
                **base,
                **screening,
                "instance_id": f"uuid:{uuid.UUID(int=n + 1)}",
                "created_at": start + timedelta(minutes=n),
                "answers": answers,
            }
            row = builder.rows(record)[0][1]
            for at, convert in converters:
                if row[at] is not None:
                    row[at] = convert(row[at])
            yield row

    n_rows = n
    return header, rows()


def child_writer(writer: str, n: int, out: str) -> dict:
    header, rows = typed_rows(n)
    started = time.perf_counter()
    if writer == "streaming":
        from exports.spreadsheet import StreamingWorkbook

        book = StreamingWorkbook()
        sheet = book.add_sheet("risk_screening", header)
        with open(out, "wb") as sink:
            for row in rows:
                sheet.append(row)
                if book.pending > 1 << 16:
                    sink.write(book.take())
            sheet.close()
            for chunk in book.finish():
                sink.write(chunk)
    elif writer == "openpyxl":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("risk_screening")
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        book.save(out)
    elif writer == "xlsxwriter":
        import xlsxwriter

        book = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": "yyyy-mm-dd hh:mm:ss",
                "remove_timezone": True,
            },
        )
        sheet = book.add_worksheet("risk_screening")
        sheet.write_row(0, 0, header)
        for r, row in enumerate(rows, start=1):
            sheet.write_row(r, 0, row)
        book.close()
    return {
        "writer": writer,
        "rows": n,
        "total_s": time.perf_counter() - started,
        "bytes": os.path.getsize(out),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


async def prepare(server: str, n: int) -> tuple[str, str, int, int]:
    dsn, name = await create_database(server)
    conn = await connect(dsn)
    try:
        await apply_migrations(conn)
        project_id = await conn.fetchval(
            "INSERT INTO projects (name) VALUES ('bench') RETURNING id"
        )
        form_id, def_id, schema = await load_risk_screening_target(conn, project_id)
        started = time.perf_counter()
        await generate_risk_screenings(conn, form_id, def_id, schema, n)
        print(f"generated {n} risk screenings in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return dsn, name, project_id, form_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--child-export", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--child-writer", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_export:
        dsn, project_id, form_id, fmt, out = args.child_export
        print(json.dumps(asyncio.run(child_export(dsn, int(project_id), int(form_id), fmt, out))))
        return
    if args.child_writer:
        writer, n, out = args.child_writer
        print(json.dumps(child_writer(writer, int(n), out)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = database_server()
        dsn, name, project_id, form_id = asyncio.run(prepare(server, args.n))
        try:
            print(
                f"{'format':8} {'rows':>8} {'first byte s':>12} {'total s':>8} {'rows/s':>8} "
                f"{'MB out':>7} {'peak RSS MB':>11}"
            )
            for fmt in ("xlsx", "csv.zip"):
                r = run_child(
                    "--child-export",
                    dsn,
                    str(project_id),
                    str(form_id),
                    fmt,
                    str(Path(tmp) / f"export.{fmt}"),
                )
                print(
                    f"{fmt:8} {r['rows']:>8} {r['first_byte_s']:>12.3f} {r['total_s']:>8.2f} "
                    f"{r['rows'] / r['total_s']:>8.0f} {r['bytes'] / MB:>7.1f} "
                    f"{r['peak_rss_mb']:>11.0f}"
                )
        finally:
            asyncio.run(drop_database(server, name))
        if args.no_compare:
            return
        print(f"\nXLSX writers alone, {args.n} typed rows of the risk screening (no database):")
        print(f"{'writer':12} {'total s':>8} {'rows/s':>8} {'MB out':>7} {'peak RSS MB':>11}")
        for writer in ("streaming", "openpyxl", "xlsxwriter"):
            try:
                r = run_child("--child-writer", writer, str(args.n), str(Path(tmp) / "w.xlsx"))
            except subprocess.CalledProcessError as exc:
                print(f"{writer:12} not run: {exc.stderr.strip().splitlines()[-1]}")
                continue
            print(
                f"{writer:12} {r['total_s']:>8.2f} {r['rows'] / r['total_s']:>8.0f} "
                f"{r['bytes'] / MB:>7.1f} {r['peak_rss_mb']:>11.0f}"
            )


if __name__ == "__main__":
    main()

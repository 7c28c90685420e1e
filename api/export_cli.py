"""`fieldsurvey export`: a form's submissions to an .xlsx or .csv.zip file, with a progress
bar. The same code path as the HTTP export (its own connection, a server-side cursor, the
audit log), writing to a file instead of a response.

    fieldsurvey export --project Default --form risk_screening --format xlsx -o out.xlsx
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from api.settings import Settings

FORMATS = ("xlsx", "csv.zip")


def add_export_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    export = sub.add_parser("export", help="export a form's submissions to XLSX or CSV zip")
    export.add_argument("--project", required=True, help="project id or name")
    export.add_argument("--form", required=True, help="xmlFormId")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("-o", "--output", required=True, help="file to write")
    export.add_argument("--since", help="submitted on or after (ISO date or date-time)")
    export.add_argument("--until", help="submitted before (a date alone includes that day)")
    export.add_argument("--review-state", action="append", help="received, approved, ...")
    export.add_argument("--version", action="append", help="form version (repeatable)")
    export.add_argument("--fields", help="comma-separated field paths")
    export.add_argument("--lang", help="XLSX: label headers in this language")
    export.add_argument("--choices", choices=("value", "label"), default="value")
    export.add_argument("--split-select-multiples", action="store_true", help="CSV zip")
    export.add_argument("--no-group-paths", action="store_true")
    export.add_argument(
        "--raw-formulas",
        action="store_true",
        help="CSV zip: write text beginning with = + - @ as submitted (default: a leading ')",
    )
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    return export


async def _progress(records: AsyncIterator[Any], bar) -> AsyncIterator[Any]:
    pending = 0
    async for record in records:
        yield record
        pending += 1
        if pending == 500:
            bar.update(pending)
            pending = 0
    bar.update(pending)


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.cli import _find_project, cli_connection
    from api.problems import Problem
    from api.v1.exports import (
        _language,
        export_layout,
        parse_filter,
        resolve_target,
        stream_records_into,
    )
    from db import audits
    from db.embedded import start_embedded_postgres
    from db.submissions import count_submissions
    from exports.csv import stream_csv_zip
    from exports.xlsx import stream_xlsx

    dsn = settings.database_url or start_embedded_postgres(settings.data_dir)
    spreadsheet = args.format == "xlsx"
    async with cli_connection(settings) as conn:
        project = await _find_project(conn, args.project)
        try:
            submission_filter = parse_filter(
                args.since, args.until, args.review_state, args.version
            )
            target = await resolve_target(conn, project["id"], args.form, submission_filter)
            language = _language(target, args.lang) if spreadsheet else None
            layout = export_layout(
                target,
                fields=args.fields,
                group_paths=not args.no_group_paths,
                split_select_multiples=spreadsheet or args.split_select_multiples,
                spreadsheet=spreadsheet,
            )
        except Problem as exc:
            print(f"export: {exc.slug}: {exc.detail}", file=sys.stderr)
            return 1
        unfiltered = not any(submission_filter.describe().values())
        total = await count_submissions(conn, target.form_id) if unfiltered else None
        await audits.log_audit(
            conn,
            None,
            "submission.export",
            f"form/{target.project_id}/{target.xml_form_id}",
            {"format": args.format, "via": "cli", "filters": submission_filter.describe()},
        )
    bar = tqdm(total=total, unit=" submissions", disable=args.quiet, file=sys.stderr)

    def write(records):
        records = _progress(records, bar)
        if spreadsheet:
            return stream_xlsx(
                records,
                layout,
                language=language,
                header_labels=language is not None,
                choice_labels=args.choices == "label",
            )
        return stream_csv_zip(records, layout, escape_formulas=not args.raw_formulas)

    output = Path(args.output)
    written = 0
    with bar, output.open("wb") as sink:
        # CSV newest first, as the REST export and Central (its files stay on the server)
        async for chunk in stream_records_into(dsn, target, write, newest_first=not spreadsheet):
            sink.write(chunk)
            written += len(chunk)
    print(f"wrote {output} ({written} bytes)", file=sys.stderr)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """The function `api.cli.main` calls for `fieldsurvey export`."""
    return asyncio.run(run_export(settings, args))

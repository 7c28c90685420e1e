"""`fieldsurvey export`: a form's submissions to an .xlsx or a CSV zip file, with a progress
bar. The same code path as the HTTP export (its own connection, a server-side cursor, the
audit log), writing to a file instead of a response.

    fieldsurvey export --project Default --form risk_screening --format xlsx -o out.xlsx
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click

from api.cli._common import cli_connection, find_project, run, settings_from_env
from api.services.exports import EXPORT_FORMATS, LABELLED_FORMATS

FORMATS = tuple(EXPORT_FORMATS)


@click.command(help="export a form's submissions to XLSX or CSV zip")
@click.option("--project", required=True, help="project id or name")
@click.option("--form", required=True, help="xmlFormId")
@click.option("--format", "format_", required=True, type=click.Choice(FORMATS))
@click.option("-o", "--output", required=True, help="file to write")
@click.option("--since", help="submitted on or after (ISO date or date-time)")
@click.option("--until", help="submitted before (a date alone includes that day)")
@click.option("--review-state", multiple=True, help="received, approved, ...")
@click.option("--version", multiple=True, help="form version (repeatable)")
@click.option("--fields", help="comma-separated field paths")
@click.option("--lang", help="xlsx, excel.csv.zip: label headers in this language")
@click.option("--choices", type=click.Choice(("value", "label")), default="value",
              show_default=True)
@click.option("--split-select-multiples", is_flag=True, help="CSV zips")
@click.option("--no-group-paths", is_flag=True)
@click.option(
    "--raw-formulas",
    is_flag=True,
    help="CSV zips: write text beginning with = + - @ as submitted (default: a leading ')",
)
@click.option("--quiet", is_flag=True, help="no progress bar")
def export(**options: Any) -> None:
    run(run_export(**options))


async def _progress(records: AsyncIterator[Any], bar) -> AsyncIterator[Any]:
    pending = 0
    async for record in records:
        yield record
        pending += 1
        if pending == 500:
            bar.update(pending)
            pending = 0
    bar.update(pending)


async def run_export(
    *, project: str, form: str, format_: str, output: str, since: str | None,
    until: str | None, review_state: tuple[str, ...], version: tuple[str, ...],
    fields: str | None, lang: str | None, choices: str, split_select_multiples: bool,
    no_group_paths: bool, raw_formulas: bool, quiet: bool,
) -> int:
    from tqdm import tqdm

    from api.problems import Problem
    from api.services.exports import (
        ExportRequest,
        audit_export,
        prepare_export,
        stream_records_into,
    )
    from db.embedded import start_embedded_postgres
    from db.scopes import UNSCOPED
    from db.submissions import count_submissions

    settings = settings_from_env()
    dsn = settings.database_url or start_embedded_postgres(settings.data_dir)
    async with cli_connection(settings) as conn:
        project_row = await find_project(conn, project)
        asked = ExportRequest(
            since=since, until=until, review_state=list(review_state) or None,
            version=list(version) or None, fields=fields, group_paths=not no_group_paths,
            split_select_multiples=split_select_multiples, escape_formulas=not raw_formulas,
            lang=lang if format_ in LABELLED_FORMATS else None, choices=choices,
        )
        try:
            # the operator of the server reads the whole project
            prepared = await prepare_export(conn, project_row["id"], form, format_, asked,
                                            scope=UNSCOPED)
        except Problem as exc:
            click.echo(f"export: {exc.slug}: {exc.detail}", err=True)
            return 1
        target = prepared.target
        unfiltered = not any(target.filter.describe().values())
        total = (await count_submissions(conn, target.form_id, scope=UNSCOPED)
                 if unfiltered else None)
        await audit_export(conn, None, "submission.export", target,
                           {"format": format_, "via": "cli"})
    bar = tqdm(total=total, unit=" submissions", disable=quiet, file=sys.stderr)

    def write(records):
        return prepared.write(_progress(records, bar))

    path = Path(output)
    written = 0
    with bar, path.open("wb") as sink:
        # CSV newest first, as the REST export and Central (its files stay on the server)
        async for chunk in stream_records_into(dsn, target, write,
                                               newest_first=prepared.newest_first):
            sink.write(chunk)
            written += len(chunk)
    click.echo(f"wrote {path} ({written} bytes)", err=True)
    return 0


COMMANDS = (export,)

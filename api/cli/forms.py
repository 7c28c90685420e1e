"""`fieldsurvey forms`: XLSForms."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.cli._common import (
    cli_attachment_store,
    cli_connection,
    find_project,
    run,
    settings_from_env,
)


@click.group(help="XLSForms")
def forms() -> None:
    pass


@forms.command(name="compile", help="print the XForm of an XLSForm, or its errors")
@click.argument("file")
@click.option("--ignore-warnings", is_flag=True)
def compile_(file: str, ignore_warnings: bool) -> None:
    from forms.compile import FormCompileError, compile_xlsform

    path = Path(file)
    try:
        compiled = compile_xlsform(
            path.read_bytes(),
            file_type=path.suffix.lstrip(".") or "xlsx",
            ignore_warnings=ignore_warnings,
        )
    except FormCompileError as exc:
        click.echo(f"{path}: {exc.kind}", err=True)
        for problem in exc.problems:
            where = ", ".join(
                x
                for x in (
                    problem.sheet and f"sheet {problem.sheet}",
                    problem.row is not None and f"row {problem.row}",
                )
                if x
            )
            click.echo(f"  {problem.message}" + (f" [{where}]" if where else ""), err=True)
        raise SystemExit(1) from exc
    sys.stdout.write(compiled.xform)
    sys.stdout.write("\n")


@forms.command(help="upload and publish an XLSForm or XForm")
@click.argument("file")
@click.option("--project", required=True)
@click.option("--version", help="publish under this version string")
@click.option("--ignore-warnings", is_flag=True)
def publish(file: str, project: str, version: str | None, ignore_warnings: bool) -> None:
    run(_publish(file, project, version, ignore_warnings))


async def _publish(file: str, project_ref: str, version: str | None, ignore_warnings: bool) -> int:
    from api.problems import Problem
    from api.services.forms import create_draft_and_publish_from_file
    settings = settings_from_env()
    async with cli_connection(settings) as conn, cli_attachment_store(settings) as store:
        project = await find_project(conn, project_ref)
        try:
            xml_form_id, published = await create_draft_and_publish_from_file(
                conn,
                project["id"],
                Path(file),
                ignore_warnings=ignore_warnings,
                version=version,
                store=store,
            )
        except Problem as exc:
            click.echo(f"{file}: {exc.slug}: {exc.detail}", err=True)
            for problem in exc.extra.get("problems", []):
                click.echo(f"  {problem['message']}", err=True)
            return 1
    click.echo(f"published {xml_form_id} version {published} in project {project['name']}")
    return 0


COMMANDS = (forms,)

"""`fieldsurvey reclassify`: the current rubric applied again to stored risk screenings."""

from __future__ import annotations

import click

from api.cli._common import cli_connection, find_project, run, settings_from_env


@click.command(help="re-apply the current rubric to every stored risk screening")
@click.option("--project", help="project id or name (default: all projects)")
@click.option("--batch-size", type=int, default=1000, show_default=True)
def reclassify(project: str | None, batch_size: int) -> None:
    run(_reclassify(project, batch_size))


async def _reclassify(project_ref: str | None, batch_size: int) -> None:
    from tqdm import tqdm

    from api.services.reclassify import reclassify_screenings
    from db import submissions as submissions_db
    from forms.rubric import RUBRIC_VERSION
    from forms.screening import RISK_SCREENING_FORM_ID

    async with cli_connection(settings_from_env()) as conn:
        project_id = (await find_project(conn, project_ref))["id"] if project_ref else None
        total = await submissions_db.count_screening_submissions(
            conn, RISK_SCREENING_FORM_ID, project_id
        )
        with tqdm(total=total, unit="screening", desc=f"rubric {RUBRIC_VERSION}") as bar:
            visited = await reclassify_screenings(
                conn, project_id=project_id, batch_size=batch_size, on_progress=bar.update
            )
    click.echo(f"re-classified {visited} screenings with rubric {RUBRIC_VERSION}")


COMMANDS = (reclassify,)

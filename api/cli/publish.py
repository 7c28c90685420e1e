"""`fieldsurvey publish`: the due monthly publications of summaries."""

from __future__ import annotations

import click

from api.cli._common import cli_connection, find_project, run, settings_from_env


@click.command(help="make the due monthly publications of summaries (what ministries see)")
@click.option("--project", help="project id or name (default: every project with data)")
def publish(project: str | None) -> None:
    run(_publish(project))


async def _publish(project_ref: str | None) -> None:
    from api.services.publications import publish_all_due

    settings = settings_from_env()
    async with cli_connection(settings) as conn:
        project_ids = [(await find_project(conn, project_ref))["id"]] if project_ref else None
        for publication in await publish_all_due(conn, settings, project_ids=project_ids):
            click.echo(f"project {publication.project_id}: publication through "
                       f"{publication.label} (made {publication.published_at:%Y-%m-%d %H:%M} UTC)")


COMMANDS = (publish,)

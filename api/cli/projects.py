"""`fieldsurvey project`: projects."""

from __future__ import annotations

import click

from api.cli._common import cli_connection, fail_on_problem, run, settings_from_env


@click.group(help="projects")
def project() -> None:
    pass


@project.command(help="create a project")
@click.argument("name")
@click.option("--description")
def create(name: str, description: str | None) -> None:
    run(_create(name, description))


async def _create(name: str, description: str | None) -> None:
    from api.services.projects import store_project

    async with cli_connection(settings_from_env()) as conn:
        with fail_on_problem("project"):
            row = await store_project(conn, name, description, actor_id=None)
    click.echo(f"project {row['name']} has id {row['id']}")


COMMANDS = (project,)

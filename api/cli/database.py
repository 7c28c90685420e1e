"""`fieldsurvey db`: the database."""

from __future__ import annotations

import click

from api.cli._common import cli_connection, run, settings_from_env


@click.group(help="database")
def db() -> None:
    pass


@db.command(help="apply the migrations")
def migrate() -> None:
    run(_migrate())


async def _migrate() -> None:
    from db.migrate import apply_migrations

    async with cli_connection(settings_from_env(), migrate=False) as conn:
        applied = await apply_migrations(conn)
    click.echo(
        "database is up to date"
        if not applied
        else "applied: " + ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
    )


COMMANDS = (db,)

"""`fieldsurvey purge`: remove for good what has been in the trash longer than
FIELDSURVEY_TRASH_DAYS (the server also does it once a day)."""

from __future__ import annotations

import click

from api.cli._common import cli_attachment_store, cli_connection, run, settings_from_env


@click.command(help="remove for good the submissions and entities deleted more than "
                    "FIELDSURVEY_TRASH_DAYS days ago, with their versions, comments and the "
                    "attachment files nothing else uses, and erase what the forms' retention "
                    "periods make due (the server does both once a day)")
def purge() -> None:
    run(_purge())


async def _purge() -> None:
    from api.services.housekeeping import housekeeping

    settings = settings_from_env()
    async with cli_connection(settings) as conn, cli_attachment_store(settings) as store:
        done = await housekeeping(conn, store, settings)
    report, erased = done.purged, done.retention
    click.echo(f"purged {report.submissions} submissions and {report.entities} entities "
               f"deleted more than {settings.trash_days} days ago; {report.files} files removed")
    click.echo(f"retention periods: {erased.submissions} submissions and {erased.entities} "
               f"cases erased, {erased.fields} submissions lost their sensitive fields; "
               f"{erased.files} files removed")


COMMANDS = (purge,)

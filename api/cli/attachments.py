"""`fieldsurvey attachments move|sweep`: attachment files between stores (docs/scaling.md)."""

from __future__ import annotations

import click

from api.cli._common import cli_attachment_store, cli_connection, fail, run, settings_from_env

STORE_HELP = "local, postgres or s3://bucket[/prefix]?endpoint=URL&region=R"


@click.group(help="attachment files (submission files)")
def attachments() -> None:
    pass


@attachments.command(help="copy every attachment file into another store, while the servers run "
                          "(docs/scaling.md says how to switch them without downtime)")
@click.option("--to", "target", required=True, metavar="STORE", help=STORE_HELP)
@click.option("--from", "source", metavar="STORE",
              help="default: FIELDSURVEY_ATTACHMENTS_PREVIOUS when set, else "
                   "FIELDSURVEY_ATTACHMENTS")
def move(target: str, source: str | None) -> None:
    run(_move(target, source))


async def _move(target: str, source: str | None) -> int:
    from api.services.attachments import move_attachments
    from api.settings import Settings

    settings = settings_from_env()
    source = source or settings.attachments_previous or settings.attachments
    for where in (source, target):
        try:  # the same checks as the settings'
            Settings(attachments=where)
        except ValueError as exc:
            fail(str(exc).replace("FIELDSURVEY_ATTACHMENTS", "the store"))
    if source == target:
        fail(f"the files are in {target} already")
    async with (cli_connection(settings) as conn,
                cli_attachment_store(settings, source) as from_store,
                cli_attachment_store(settings, target) as to_store):

        def progress(report) -> None:
            click.echo(f"\r{report.copied} copied, {report.present} there already", nl=False,
                       err=True)

        report = await move_attachments(conn, from_store, to_store, progress=progress)
    click.echo("", err=True)
    click.echo(f"{report.copied} files copied from {source} to {target}, "
               f"{report.present} were there already")
    for key in report.missing:
        click.echo(f"missing from {source}: {key}", err=True)
    for key in report.damaged:
        click.echo(f"damaged in {source} (not copied): {key}", err=True)
    return 1 if report.missing or report.damaged else 0


@attachments.command(help="delete the files of the attachment store that nothing refers to")
def sweep() -> None:
    run(_sweep())


async def _sweep() -> None:
    from api.services.attachments import sweep_attachments

    settings = settings_from_env()
    async with cli_connection(settings) as conn, cli_attachment_store(settings) as store:
        deleted = await sweep_attachments(conn, store)
    click.echo(f"{deleted} files nothing referred to deleted from {settings.attachments}")


COMMANDS = (attachments,)

"""`fieldsurvey backup` and `fieldsurvey restore` (docs/backups.md): one encrypted file with
everything needed to bring the server back, and bringing it back into an empty server."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli._common import cli_attachment_store, database_dsn, fail, run, settings_from_env

PASSPHRASE_HELP = "a file whose first line is the passphrase (e.g. a systemd credential)"


@click.command(help="write one file with everything needed to bring the server back (the "
                    "database, every attachment, the server secrets, a manifest), encrypted "
                    "with a passphrase; or check one with --verify")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="the backup file, or a folder to write fieldsurvey-<UTC time>.fsbackup in")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help=PASSPHRASE_HELP)
@click.option("--no-encryption", is_flag=True,
              help="write the backup in clear (refused without this flag when no passphrase "
                   "is given)")
@click.option("--keep", type=click.IntRange(min=1),
              help="after writing into a folder, delete all but the newest N backups there "
                   "(and in the --copy-to bucket)")
@click.option("--copy-to", metavar="s3://BUCKET[/PREFIX]?endpoint=URL&region=R",
              help="also upload the file to an S3-compatible bucket (credentials as for the S3 "
                   "attachment store: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
@click.option("--verify", "verify_file", type=click.Path(dir_okay=False, path_type=Path),
              help="check this backup without restoring it: decrypt it, check every SHA-256 "
                   "and the manifest's counts")
def backup(output: Path | None, passphrase_file: Path | None, no_encryption: bool,
           keep: int | None, copy_to: str | None, verify_file: Path | None) -> None:
    if verify_file is not None:
        if output or keep or copy_to or no_encryption:
            fail("--verify checks a backup: give only the file and --passphrase-file")
        run(_verify(verify_file, passphrase_file))
        return
    if output is None:
        fail("give --output FILE (or a folder), or --verify FILE")
    if passphrase_file is None and not no_encryption:
        fail("a backup holds victims' data: give --passphrase-file, or --no-encryption to "
             "write it in clear")
    if passphrase_file is not None and no_encryption:
        fail("--passphrase-file and --no-encryption exclude each other")
    if keep is not None and not output.is_dir():
        fail("--keep needs --output to be a folder")
    run(_backup(output, passphrase_file, keep, copy_to))


def _passphrase(path: Path | None) -> str | None:
    from api.services.backup import BackupError, read_passphrase_file

    if path is None:
        return None
    try:
        return read_passphrase_file(path)
    except BackupError as exc:
        fail(f"fieldsurvey backup: {exc.slug}: {exc}")


async def _backup(output: Path, passphrase_file: Path | None, keep: int | None,
                  copy_to: str | None) -> int:
    from api.services import backup as service

    settings = settings_from_env()
    passphrase = _passphrase(passphrase_file)
    dsn = database_dsn(settings)
    try:
        async with cli_attachment_store(settings) as store:
            summary = await service.write_backup(dsn, store, output, passphrase,
                                                 pg_bin_dir=settings.pg_bin_dir)
        click.echo(
            f"backup written to {summary.path}: {summary.bytes / 1e6:.1f} MB, snapshot of "
            f"{summary.snapshot_at:%Y-%m-%d %H:%M:%S} UTC, {summary.attachments} attachments, "
            f"{sum(summary.counts.values())} rows, "
            + ("encrypted" if summary.encrypted else "NOT encrypted"))
        if keep is not None:
            for path in service.prune_backups(summary.path.parent, keep):
                click.echo(f"deleted the older backup {path}")
        if copy_to:
            copied = await service.copy_to_bucket(summary.path, copy_to, keep)
            click.echo(f"copied to {copied.url}")
            for name in copied.deleted:
                click.echo(f"deleted the older backup {name} from the bucket")
    except service.BackupError as exc:
        fail(f"fieldsurvey backup: {exc.slug}: {exc}")
    return 0


async def _verify(path: Path, passphrase_file: Path | None) -> int:
    from api.services import backup as service

    settings = settings_from_env()
    try:
        checked = await service.verify_backup(path, _passphrase(passphrase_file),
                                              pg_bin_dir=settings.pg_bin_dir)
    except service.BackupError as exc:
        fail(f"fieldsurvey backup --verify: {exc.slug}: {exc}")
    header = checked.header
    click.echo(
        f"{path} is a complete backup of fieldsurvey {header['fieldsurvey']} (migration "
        f"{header['migration']}, {header['attachmentStore']} attachment store), snapshot of "
        f"{header['snapshotAt']}: {checked.attachments} attachments "
        f"({checked.attachment_bytes / 1e6:.1f} MB), every SHA-256 and "
        f"{sum(checked.counts.values())} rows in {len(checked.counts)} tables as the manifest says")
    return 0


@click.command(help="bring a backup back into an empty database and attachment store (a "
                    "target that is not empty is refused and left as it was)")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
              help=PASSPHRASE_HELP)
def restore(file: Path, passphrase_file: Path | None) -> None:
    run(_restore(file, passphrase_file))


async def _restore(path: Path, passphrase_file: Path | None) -> int:
    from api.services import backup as service

    settings = settings_from_env()
    passphrase = _passphrase(passphrase_file)
    dsn = database_dsn(settings)
    try:
        async with cli_attachment_store(settings) as store:
            restored = await service.restore_backup(path, passphrase, dsn, store,
                                                    pg_bin_dir=settings.pg_bin_dir)
    except service.BackupError as exc:
        fail(f"fieldsurvey restore: {exc.slug}: {exc}")
    click.echo(
        f"restored the snapshot of {restored.header['snapshotAt']}: "
        f"{sum(restored.counts.values())} rows in {len(restored.counts)} tables, "
        f"{restored.attachments} attachments; start the server (fieldsurvey serve), which "
        "applies any newer migrations")
    return 0


COMMANDS = (backup, restore)

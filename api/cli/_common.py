"""What the CLI's commands share: settings, a migrated connection, project references, and
how a failure ends the process (stderr, exit 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import click

from api.settings import Settings


def settings_from_env() -> Settings:
    return Settings.from_env()


def run(coroutine: Coroutine[Any, Any, int | None]) -> None:
    """Runs an async command body; a non-zero result is the exit code. A database upgraded by
    a later release ends every command with the reason (db/migrate.py)."""
    from db.migrate import DatabaseNewerThanCode

    try:
        code = asyncio.run(coroutine)
    except DatabaseNewerThanCode as exc:
        fail(f"fieldsurvey: {exc}")
    if code:
        raise SystemExit(code)


def fail(message: str) -> None:
    """Ends the command: the message on stderr, exit code 1."""
    click.echo(message, err=True)
    raise SystemExit(1)


@contextmanager
def fail_on_problem(prefix: str) -> Iterator[None]:
    """A catalogue Problem raised inside ends the command as `PREFIX: slug: detail`, exit 1."""
    from api.problems import Problem

    try:
        yield
    except Problem as exc:
        fail(f"{prefix}: {exc.slug}: {exc.detail}")


def database_dsn(settings: Settings) -> str:
    """The configured database, or the embedded one (started if need be)."""
    from db.embedded import start_embedded_postgres

    return settings.database_url or start_embedded_postgres(settings.data_dir)


@asynccontextmanager
async def cli_attachment_store(settings: Settings, where: str | None = None):
    """The attachment store the settings name (or `where` names), closed at the end."""
    from api.storage import attachment_store, open_store

    dsn = database_dsn(settings)
    store = attachment_store(settings, dsn) if where is None else open_store(where, settings, dsn)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def cli_connection(
    settings: Settings, *, migrate: bool = True
) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the configured database (or the embedded one, started if need be),
    migrated to the current schema unless `migrate` is False."""
    from db.migrate import apply_migrations
    from db.pool import connect

    conn = await connect(database_dsn(settings))
    try:
        if migrate:
            await apply_migrations(conn)
        yield conn
    finally:
        await conn.close()


async def find_project(conn: asyncpg.Connection, ref: str) -> asyncpg.Record:
    """The project named by an option (an id or a unique name), or the command fails."""
    from api.services.projects import projects_by_reference

    found = await projects_by_reference(conn, ref)
    if not found:
        fail(f"no project {ref!r}")
    if len(found) > 1:
        ids = ", ".join(str(r["id"]) for r in found)
        fail(f"{len(found)} projects are named {ref!r} (ids {ids}); give the id")
    return found[0]

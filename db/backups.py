"""SQL of backups (`fieldsurvey backup` / `restore`, api/services/backup.py): the snapshot a
backup is taken in, what it holds, whether a restore target is empty, and the record of every
finished backup (table `backups`, migration 0023)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# The snapshot pg_dump is given (`pg_dump --snapshot`): valid while the exporting transaction
# (REPEATABLE READ, read only) stays open. clock_timestamp(): when it was taken.
EXPORT_SNAPSHOT = "SELECT pg_export_snapshot() AS snapshot, clock_timestamp() AS taken_at"

SELECT_MIGRATION_LEVEL = "SELECT coalesce(max(version), 0) FROM schema_migrations"

# Rows of every application table (the schema the migrations made): PostgreSQL composes the
# counting statement itself, identifiers and names quoted by format() (%I, %L), and it is run.
COMPOSE_ROW_COUNTS = """
SELECT string_agg(format('SELECT %L AS name, count(*) AS n FROM %I.%I', c.relname, n.nspname,
                         c.relname), ' UNION ALL ' ORDER BY c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public'
"""

# What a database holds besides PostgreSQL's own catalogues: a restore target must hold nothing.
SELECT_USER_OBJECTS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
"""
SELECT_USER_SCHEMAS = """
SELECT count(*) FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
  AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'
"""
SELECT_USER_FUNCTIONS = """
SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

# Back to empty after a restore that failed its last check (the target was empty before it).
DROP_EVERYTHING = "DROP SCHEMA public CASCADE; CREATE SCHEMA public"

SELECT_SERVER_VERSION = "SELECT current_setting('server_version_num')::int"

INSERT_BACKUP = """
INSERT INTO backups (snapshot_at, file_name, bytes, attachments, encrypted)
VALUES ($1, $2, $3, $4, $5)
"""
SELECT_NEWEST_BACKUP = "SELECT max(snapshot_at) FROM backups"


async def export_snapshot(conn: asyncpg.Connection) -> asyncpg.Record:
    """Call first in a REPEATABLE READ transaction: its snapshot's name and time."""
    return await conn.fetchrow(EXPORT_SNAPSHOT)


async def migration_level(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(SELECT_MIGRATION_LEVEL)


async def count_rows_per_table(conn: asyncpg.Connection) -> dict[str, int]:
    statement = await conn.fetchval(COMPOSE_ROW_COUNTS)
    if statement is None:
        return {}
    return {row["name"]: row["n"] for row in await conn.fetch(statement)}


async def database_is_empty(conn: asyncpg.Connection) -> bool:
    return (
        await conn.fetchval(SELECT_USER_OBJECTS) == 0
        and await conn.fetchval(SELECT_USER_SCHEMAS) == 0
        and await conn.fetchval(SELECT_USER_FUNCTIONS) == 0
    )


async def drop_everything(conn: asyncpg.Connection) -> None:
    await conn.execute(DROP_EVERYTHING)


async def server_version(conn: asyncpg.Connection) -> int:
    """server_version_num, e.g. 160002."""
    return await conn.fetchval(SELECT_SERVER_VERSION)


async def record_backup(
    conn: asyncpg.Connection,
    snapshot_at: datetime,
    file_name: str,
    size: int,
    attachments: int,
    encrypted: bool,
) -> None:
    await conn.execute(INSERT_BACKUP, snapshot_at, file_name, size, attachments, encrypted)


async def newest_backup(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval(SELECT_NEWEST_BACKUP)

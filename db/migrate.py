"""Forward-only SQL migrations: db/migrations/NNNN_name.sql, applied in order, recorded.

One migrator at a time (a PostgreSQL advisory lock): two servers starting at once, or a server
and `fieldsurvey db migrate`, apply each migration once. A database that records a migration
this code does not have was upgraded by a newer release: it is refused (DatabaseNewerThanCode)
before anything is applied, so an older server never runs against a schema it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from db.pool import session_advisory_lock

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 7_240_551_001  # advisory lock: one migrator at a time

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version, name FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"


class DatabaseNewerThanCode(RuntimeError):
    """The database has migrations this release does not know (a newer release ran on it)."""

    def __init__(self, unknown: list[tuple[int, str]], newest_known: int):
        self.unknown = unknown
        names = ", ".join(f"{version:04d}_{name}" for version, name in unknown)
        super().__init__(
            f"the database is newer than this fieldsurvey: it has migration(s) {names}, and "
            f"this release knows migrations up to {newest_known:04d}. "
            "Install the release that upgraded the database (or a later one); nothing was changed."
        )


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("db").joinpath("migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def apply_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Apply the migrations not yet recorded, each in its own transaction. Returns those applied."""
    applied_now = []
    async with session_advisory_lock(conn, _LOCK_KEY):
        await conn.execute(CREATE_MIGRATIONS_TABLE)
        applied = await conn.fetch(SELECT_APPLIED)
        available = available_migrations()
        known = {m.version for m in available}
        unknown = [(r["version"], r["name"]) for r in applied if r["version"] not in known]
        if unknown:
            raise DatabaseNewerThanCode(unknown, max(known))
        done = {r["version"] for r in applied}
        for migration in available:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(INSERT_APPLIED, migration.version, migration.name)
            applied_now.append(migration)
    return applied_now

"""SQL of server_secrets: secrets all server processes share."""

from __future__ import annotations

import asyncpg

SELECT_SECRET = "SELECT value FROM server_secrets WHERE name = $1"


async def get_secret(conn: asyncpg.Connection, name: str) -> bytes:
    value = await conn.fetchval(SELECT_SECRET, name)
    if value is None:
        raise LookupError(f"no server secret {name!r}: are the migrations applied?")
    return bytes(value)

"""SQL of digest_nonces: each Digest (nonce, nc) is accepted once, across all processes."""

from __future__ import annotations

import asyncpg

# A row comes back only when `count` is above every count accepted before for this nonce.
ACCEPT_COUNT = """
INSERT INTO digest_nonces (nonce, count) VALUES ($1, $2)
ON CONFLICT (nonce) DO UPDATE SET count = EXCLUDED.count, used_at = now()
WHERE digest_nonces.count < EXCLUDED.count
RETURNING true
"""

DELETE_OLD = "DELETE FROM digest_nonces WHERE used_at < now() - make_interval(secs => $1)"


async def accept_count(conn: asyncpg.Connection, nonce: str, count: int) -> bool:
    return bool(await conn.fetchval(ACCEPT_COUNT, nonce, count))


async def delete_old(conn: asyncpg.Connection, older_than_seconds: float) -> None:
    await conn.execute(DELETE_OLD, older_than_seconds)

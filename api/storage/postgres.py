"""The PostgreSQL store (FIELDSURVEY_ATTACHMENTS=postgres): files in the table
attachment_blobs of the server's own database, as ODK Central keeps its blobs by default, so
every app server reads every file and a backup of the database holds them.

A file is written with the caller's connection when it gives one (the transaction that refers
to it: the file commits, or not, with its row, so none is ever left behind), else on its own
before that transaction commits. Reads have a small pool of their own: a request holding a
connection of the app's pool never waits for another connection of the same pool (which,
under load, could wait forever)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg

from api.storage import blob_key, check_key
from db import blobs as blobs_db
from db.pool import open_pool

POOL_SIZE = 4


class PostgresAttachmentStore:
    kind = "postgres"

    def __init__(self, dsn: str, *, pool_size: int = POOL_SIZE):
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await open_pool(self.dsn, min_size=0, max_size=self.pool_size,
                                                 command_timeout=None)
        return self._pool

    async def put(self, data: bytes, conn: asyncpg.Connection | None = None) -> str:
        key = blob_key(data)
        if conn is not None:
            await blobs_db.insert_blob(conn, key, data)
            return key
        async with (await self._connections()).acquire() as own:
            await blobs_db.insert_blob(own, key, data)
        return key

    async def get(self, key: str) -> bytes:
        async with (await self._connections()).acquire() as conn:
            content = await blobs_db.get_blob(conn, check_key(key))
        if content is None:
            raise FileNotFoundError(key)
        return content

    async def exists(self, key: str) -> bool:
        async with (await self._connections()).acquire() as conn:
            return await blobs_db.blob_exists(conn, check_key(key))

    async def delete(self, key: str, conn: asyncpg.Connection | None = None) -> None:
        if conn is not None:
            await blobs_db.delete_blob(conn, check_key(key))
            return
        async with (await self._connections()).acquire() as own:
            await blobs_db.delete_blob(own, check_key(key))

    async def keys(self) -> AsyncIterator[str]:
        async with (await self._connections()).acquire() as conn, conn.transaction():
            async for key in blobs_db.stream_blob_keys(conn):
                yield key

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def __repr__(self) -> str:
        return "postgres"

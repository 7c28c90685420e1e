"""Which stored files (api/storage, content-addressed) are still referenced, the lock
that lets a file be deleted safely while submissions keep arriving, and the SQL of
attachment_blobs (the files themselves, when they are kept in PostgreSQL).

Writers (api/ingest.py, the REST attachment upload) take the lock shared, in the transaction
that references the file, before putting it; a sweep takes it exclusively, so it sees every
reference committed before it and no writer puts a file between its check and its delete (a
writer waiting on it puts the file again afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Protocol

import asyncpg


class Deletes(Protocol):
    """What a sweep needs of an attachment store (api/storage AttachmentStore)."""

    async def delete(self, key: str, conn: asyncpg.Connection | None = None) -> None: ...


BLOB_LOCK = 0x626C6F62  # "blob": the advisory lock key

SELECT_UNREFERENCED = """
SELECT key FROM unnest($1::text[]) AS key
WHERE NOT EXISTS (SELECT 1 FROM submission_attachments sa WHERE sa.blob_key = key)
  AND NOT EXISTS (SELECT 1 FROM draft_submissions d, jsonb_array_elements(d.attachments) a
                  WHERE a->>'blobKey' = key)
"""

async def hold_against_deletion(conn: asyncpg.Connection) -> None:
    """Session-wide: no sweep deletes a file until the connection closes (a backup reading
    the files its snapshot refers to); writers are not held."""
    await conn.execute("SELECT pg_advisory_lock_shared($1)", BLOB_LOCK)


async def hold_for_writing(conn: asyncpg.Connection) -> None:
    """Call inside the transaction that references the files, before putting them."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", BLOB_LOCK)


async def delete_unreferenced(
    conn: asyncpg.Connection, store: Deletes, keys: Iterable[str]
) -> int:
    """Delete the files among `keys` that nothing references any more; how many."""
    wanted = sorted(set(keys))
    if not wanted:
        return 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", BLOB_LOCK)
        gone = [r["key"] for r in await conn.fetch(SELECT_UNREFERENCED, wanted)]
        for key in gone:
            await store.delete(key, conn)
    return len(gone)


# --- attachment_blobs: the files of the PostgreSQL store (api/storage/postgres.py) -----------

INSERT_BLOB = """
INSERT INTO attachment_blobs (key, content) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING
"""
SELECT_BLOB = "SELECT content FROM attachment_blobs WHERE key = $1"
SELECT_BLOB_EXISTS = "SELECT EXISTS (SELECT 1 FROM attachment_blobs WHERE key = $1)"
DELETE_BLOB = "DELETE FROM attachment_blobs WHERE key = $1"
SELECT_BLOB_KEYS = "SELECT key FROM attachment_blobs ORDER BY key"


async def insert_blob(conn: asyncpg.Connection, key: str, content: bytes) -> None:
    await conn.execute(INSERT_BLOB, key, content)


async def get_blob(conn: asyncpg.Connection, key: str) -> bytes | None:
    content = await conn.fetchval(SELECT_BLOB, key)
    return None if content is None else bytes(content)


async def blob_exists(conn: asyncpg.Connection, key: str) -> bool:
    return await conn.fetchval(SELECT_BLOB_EXISTS, key)


async def delete_blob(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute(DELETE_BLOB, key)


async def stream_blob_keys(conn: asyncpg.Connection) -> AsyncIterator[str]:
    """Every stored key, in order (a server-side cursor: call inside a transaction)."""
    async for row in conn.cursor(SELECT_BLOB_KEYS, prefetch=1000):
        yield row["key"]


# --- what every store holds that nothing refers to -----------------------------------------

SELECT_SUBMISSION_KEYS_AFTER = """
SELECT DISTINCT blob_key AS key FROM submission_attachments
WHERE blob_key IS NOT NULL AND blob_key > $1 ORDER BY blob_key LIMIT $2
"""
SELECT_DRAFT_KEYS = """
SELECT DISTINCT a->>'blobKey' AS key FROM draft_submissions d, jsonb_array_elements(d.attachments) a
WHERE a->>'blobKey' IS NOT NULL
"""


async def referenced_keys(conn: asyncpg.Connection, *, batch: int = 1000) -> AsyncIterator[list[str]]:
    """Every key a submission or a draft test submission refers to, in lists of at most
    `batch` (submissions' keys in order, a page at a time; then the drafts')."""
    after = ""
    while True:
        keys = [r["key"] for r in await conn.fetch(SELECT_SUBMISSION_KEYS_AFTER, after, batch)]
        if not keys:
            break
        yield keys
        after = keys[-1]
    drafts = [r["key"] for r in await conn.fetch(SELECT_DRAFT_KEYS)]
    for start in range(0, len(drafts), batch):
        yield drafts[start:start + batch]

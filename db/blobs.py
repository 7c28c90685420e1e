"""Which stored files (api/storage, content-addressed) are still referenced, and the lock
that lets a file be deleted safely while submissions keep arriving.

Writers (api/ingest.py, the REST attachment upload) take the lock shared, in the transaction
that references the file, before putting it; a sweep takes it exclusively, so it sees every
reference committed before it and no writer puts a file between its check and its delete (a
writer waiting on it puts the file again afterwards)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import asyncpg


class Deletes(Protocol):
    """What a sweep needs of an attachment store (api/storage AttachmentStore)."""

    async def delete(self, key: str) -> None: ...


BLOB_LOCK = 0x626C6F62  # "blob": the advisory lock key

SELECT_UNREFERENCED = """
SELECT key FROM unnest($1::text[]) AS key
WHERE NOT EXISTS (SELECT 1 FROM submission_attachments sa WHERE sa.blob_key = key)
  AND NOT EXISTS (SELECT 1 FROM draft_submissions d, jsonb_array_elements(d.attachments) a
                  WHERE a->>'blobKey' = key)
"""


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
            await store.delete(key)
    return len(gone)

"""Attachment files between stores (docs/scaling.md): moving every file something refers to
into another store while the servers keep running, and sweeping the files of a store that
nothing refers to any more (left by a transaction that died after writing its file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from api.storage import AttachmentStore, blob_key
from db import blobs as blobs_db


@dataclass
class MoveReport:
    copied: int = 0  # copied into the target
    present: int = 0  # there already
    missing: list[str] = field(default_factory=list)  # referred to, in neither store
    damaged: list[str] = field(default_factory=list)  # in the source, not matching its key


async def move_attachments(
    conn: asyncpg.Connection, source: AttachmentStore, target: AttachmentStore, *,
    batch: int = 200, progress: Callable[[MoveReport], None] | None = None,
) -> MoveReport:
    """Copy every file that a submission or a draft test submission refers to from `source`
    into `target`, unless it is there already. Each batch is copied under the blob lock held
    shared (db/blobs.py), as writers hold it: no sweep deletes a file between being listed
    and being copied. Idempotent: run again, it copies only what is new."""
    report = MoveReport()
    async for keys in blobs_db.referenced_keys(conn, batch=batch):
        async with conn.transaction():
            await blobs_db.hold_for_writing(conn)
            for key in keys:
                if await target.exists(key):
                    report.present += 1
                    continue
                try:
                    data = await source.get(key)
                except FileNotFoundError:
                    report.missing.append(key)
                    continue
                if blob_key(data) != key:
                    report.damaged.append(key)
                    continue
                await target.put(data, conn)
                report.copied += 1
        if progress is not None:
            progress(report)
    return report


async def sweep_attachments(
    conn: asyncpg.Connection, store: AttachmentStore, *, batch: int = 500
) -> int:
    """Delete the files of `store` that nothing refers to; how many (db/blobs.py decides each
    batch under its lock, so a file being written with its row is never taken)."""
    deleted = 0
    keys: list[str] = []
    async for key in store.keys():
        keys.append(key)
        if len(keys) >= batch:
            deleted += await blobs_db.delete_unreferenced(conn, store, keys)
            keys = []
    return deleted + await blobs_db.delete_unreferenced(conn, store, keys)

"""Where attachment files live: one interface (`AttachmentStore`), one class per kind of
store beside it, and one factory (`attachment_store`) that picks the store from the settings.

Every store is content-addressed (the key is the SHA-256 of the bytes, `blob_key`), so storing
the same file twice is a no-op and a file written before a crashed transaction is harmless. A
file is written before the database row that refers to it commits, under the blob lock, and
deleted only when nothing references it any more (db/blobs.py decides, under the same lock).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

import asyncpg

if TYPE_CHECKING:  # api/settings.py checks an s3:// setting with parse_s3_url below
    from api.settings import Settings


class AttachmentStore(Protocol):
    """`conn`, where a method takes it, is the caller's connection in the transaction that
    refers to the file: a store kept in the database itself (PostgreSQL) writes and deletes
    with it, so the file commits, or not, with the row; other stores ignore it."""

    # "local", "postgres" or "s3": a backup names the kind it was made from, a restore checks it
    kind: str

    async def put(self, data: bytes, conn: asyncpg.Connection | None = None) -> str:
        """Store durably; return the key."""

    async def get(self, key: str) -> bytes:
        """The bytes of a stored key; FileNotFoundError when absent."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str, conn: asyncpg.Connection | None = None) -> None:
        """Remove a stored key; nothing when absent."""

    def keys(self) -> AsyncIterator[str]:
        """Every stored key (for moving files between stores and sweeping)."""

    async def close(self) -> None:
        """Let go of connections and clients."""


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


def check_key(key: str) -> str:
    """A key is 64 lower-case hex digits: nothing else reaches a path or an object name."""
    if not is_key(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""  # "" or ending with "/"
    endpoint: str | None = None
    region: str | None = None


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket[/prefix][?endpoint=URL][&region=R]`; ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an S3 location (s3://bucket?endpoint=...): {url!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise ValueError(f"unknown S3 option(s) {', '.join(unknown)} in {url!r} "
                         "(endpoint and region are known)")
    endpoint = query.get("endpoint", [None])[-1] or None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"the S3 endpoint must be an http(s) URL: {endpoint!r}")
    prefix = parts.path.strip("/")
    return S3Location(parts.netloc, prefix + "/" if prefix else "", endpoint,
                      query.get("region", [None])[-1] or None)


def open_store(where: str, settings: Settings, dsn: str) -> AttachmentStore:
    """The store `where` names: `local` (the folder $FIELDSURVEY_DATA_DIR/attachments),
    `postgres` (the table attachment_blobs of the database at `dsn`) or
    `s3://bucket[/prefix]?endpoint=URL&region=R`. ValueError for anything else."""
    if where == "local":
        from api.storage.local import LocalAttachmentStore

        return LocalAttachmentStore(settings.attachments_dir)
    if where == "postgres":
        from api.storage.postgres import PostgresAttachmentStore

        return PostgresAttachmentStore(dsn)
    if where.startswith("s3://"):
        from api.storage.s3 import S3AttachmentStore

        return S3AttachmentStore(parse_s3_url(where))
    raise ValueError(f"unknown attachment store {where!r}: local, postgres or s3://bucket?...")


class MovingStore:
    """While files move to another store (docs/scaling.md): every file is written to both
    stores, read from the new one and else from the previous one, deleted from both. Servers
    that still use only the previous store and servers that use this one then read every file
    the others write, so app servers can be switched one at a time without downtime."""

    def __init__(self, new: AttachmentStore, previous: AttachmentStore):
        self.new, self.previous = new, previous
        self.kind = new.kind

    async def put(self, data: bytes, conn: asyncpg.Connection | None = None) -> str:
        await self.previous.put(data, conn)
        return await self.new.put(data, conn)

    async def get(self, key: str) -> bytes:
        try:
            return await self.new.get(key)
        except FileNotFoundError:
            return await self.previous.get(key)

    async def exists(self, key: str) -> bool:
        return await self.new.exists(key) or await self.previous.exists(key)

    async def delete(self, key: str, conn: asyncpg.Connection | None = None) -> None:
        await self.new.delete(key, conn)
        await self.previous.delete(key, conn)

    async def keys(self) -> AsyncIterator[str]:
        async for key in self.new.keys():
            yield key

    async def close(self) -> None:
        await self.new.close()
        await self.previous.close()

    def __repr__(self) -> str:
        return f"{self.new!r} (moving from {self.previous!r})"


def attachment_store(settings: Settings, dsn: str) -> AttachmentStore:
    """The one factory: the store the settings name (FIELDSURVEY_ATTACHMENTS), written beside
    the previous one while files move (FIELDSURVEY_ATTACHMENTS_PREVIOUS)."""
    store = open_store(settings.attachments, settings, dsn)
    if settings.attachments_previous:
        return MovingStore(store, open_store(settings.attachments_previous, settings, dsn))
    return store

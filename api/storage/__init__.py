"""Where attachment files live: one interface (`AttachmentStore`), one class per kind of
store beside it, and one factory (`attachment_store`) that picks the store from the settings.

Every store is content-addressed (the key is the SHA-256 of the bytes, `blob_key`), so storing
the same file twice is a no-op and a file written before a crashed transaction is harmless. A
file is written before the database row that refers to it commits, under the blob lock, and
deleted only when nothing references it any more (db/blobs.py decides, under the same lock).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from api.settings import Settings


class AttachmentStore(Protocol):
    async def put(self, data: bytes) -> str:
        """Store durably; return the key."""

    async def get(self, key: str) -> bytes:
        """The bytes of a stored key; FileNotFoundError when absent."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove a stored key; nothing when absent."""


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """A key is 64 lower-case hex digits: nothing else reaches a path or an object name."""
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


def attachment_store(settings: Settings) -> AttachmentStore:
    """The store the settings name (FIELDSURVEY_ATTACHMENTS)."""
    from api.storage.local import LocalAttachmentStore

    return LocalAttachmentStore(settings.attachments_dir)

"""Where submission attachments live: a small interface, and a local-folder implementation.

Content-addressed (the key is the SHA-256 of the bytes), so storing the same file twice is a
no-op and a file written before a crashed transaction is harmless. An S3-compatible store can
implement the same four methods. A file is deleted only when nothing references it any more
(db/blobs.py decides, under its lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


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


class LocalAttachmentStore:
    """Files under `root/ab/abcdef...`; written to a temporary file, fsynced, then renamed."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def _put_sync(self, data: bytes, key: str) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def put(self, data: bytes) -> str:
        key = blob_key(data)
        await asyncio.to_thread(self._put_sync, data, key)
        return key

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

"""The local-folder store, for one-server installs: files under `root/ab/abcdef...`."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from api.storage import blob_key, check_key, is_key


class LocalAttachmentStore:
    """Files under `root/ab/abcdef...`; written to a temporary file, fsynced, then renamed."""

    kind = "local"

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / check_key(key)

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

    async def put(self, data: bytes, conn=None) -> str:
        key = blob_key(data)
        await asyncio.to_thread(self._put_sync, data, key)
        return key

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def delete(self, key: str, conn=None) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def keys(self) -> AsyncIterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(await asyncio.to_thread(list, self.root.iterdir())):
            if len(folder.name) == 2 and folder.is_dir():
                names = await asyncio.to_thread(lambda f=folder: sorted(p.name for p in f.iterdir()))
                for name in names:
                    if is_key(name):
                        yield name

    async def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"local folder {self.root}"

"""A zip archive written as a stream of byte chunks, in flat memory.

`zipfile` writes to a sink that cannot seek by putting each entry's sizes and CRC in a data
descriptor after its data; `ZipStream` is such a sink: what zipfile writes is kept until
`take()` hands it out. Only one entry can be open at a time, so a caller streams its main
entry directly and spools the others to temporary files (`spool()`), copied in at the end.

Zip64 only where an entry needs it. Microsoft Excel refuses or "repairs" containers whose
entries all carry Zip64 records (minizip-ng and duckdb-excel report it), so local headers are
plain (version 2.0, sizes in the data descriptor). An entry of unknown size that grows past
zipfile's Zip64 limit is switched to Zip64 before its data descriptor is written: that
descriptor then has 8-byte sizes and the central directory a Zip64 extra field, as Go's
archive/zip writes such entries (readers take the sizes from the central directory).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from typing import IO

SPOOL_MEMORY_BYTES = 1 << 20  # a spooled entry stays in memory up to this size
COPY_CHUNK = 1 << 18


class _Sink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.position = 0
        self.entry = None  # the entry being written (zipfile's write handle)

    def write(self, data) -> int:
        data = bytes(data)
        entry = self.entry
        # zipfile counts an entry's sizes before it hands their bytes to this sink, and
        # decides the descriptor's shape at close; this is its `_zip64` flag, set in time.
        if entry is not None and not entry._zip64 and (
            entry._file_size > zipfile.ZIP64_LIMIT or entry._compress_size > zipfile.ZIP64_LIMIT
        ):
            entry._zip64 = True
        self.chunks.append(data)
        self.size += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass


class ZipStream:
    def __init__(self, *, compresslevel: int = 1):
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(
            self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )

    def open(self, name: str) -> IO[bytes]:
        """A writable entry; close it before opening another."""
        entry = self._zip.open(name, "w")
        self._sink.entry = entry
        return entry

    @staticmethod
    def spool() -> tempfile.SpooledTemporaryFile:
        return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, mode="w+b")

    def write_spooled(self, name: str, spooled: IO[bytes]) -> None:
        """Copy a spooled entry into the archive (its content is written, then it is closed).
        Call `take()` between copies of large entries: see `copy_spooled`."""
        for _ in self.copy_spooled(name, spooled):
            pass

    def copy_spooled(self, name: str, spooled: IO[bytes]):
        """Copy a spooled entry in steps; yields after each step so the caller can `take()`."""
        spooled.seek(0)
        with self.open(name) as entry:
            while True:
                chunk = spooled.read(COPY_CHUNK)
                if not chunk:
                    break
                entry.write(chunk)
                yield
        spooled.close()

    def writestr(self, name: str, data: bytes) -> None:
        with self.open(name) as entry:
            entry.write(data)

    @property
    def pending(self) -> int:
        return self._sink.size

    def take(self) -> bytes:
        """The bytes written since the last take()."""
        if not self._sink.chunks:
            return b""
        data = b"".join(self._sink.chunks)
        self._sink.chunks.clear()
        self._sink.size = 0
        return data

    def close(self) -> bytes:
        """Write the central directory; returns the last bytes."""
        self._zip.close()
        return self.take()

    def discard(self) -> None:
        """Abandon the archive (its reader went away): the open entry and the archive are
        closed here, into memory that is dropped, so zipfile has nothing left to finish when
        it is collected (it would raise in ZipFile.__del__ over the open entry)."""
        entry = self._sink.entry
        if entry is not None and not entry.closed:
            entry.close()
        self._zip.close()
        self.take()


def copy_file(source: IO[bytes], target: IO[bytes]) -> None:
    source.seek(0)
    shutil.copyfileobj(source, target, COPY_CHUNK)

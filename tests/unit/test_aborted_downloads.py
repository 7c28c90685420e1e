"""An XLSX download the reader abandons (the connection closed mid-stream): the generator is
closed, and nothing is left for zipfile to finish at garbage collection (it logged
`Exception ignored in: <function ZipFile.__del__>` for every aborted download)."""

from __future__ import annotations

import gc
import sys

from exports.spreadsheet import StreamingWorkbook


def stream(rows: int):
    book = StreamingWorkbook(reserved=("codebook",))
    first = book.add_sheet("data", ["a", "b"])
    second = book.add_sheet("codebook", ["name"], reserved=True)
    try:
        for n in range(rows):
            first.append([str(n), "x" * 50])
            second.append([str(n)])
            if book.pending:
                yield book.take()
        first.close()
        second.close()
        yield from book.finish()
    finally:
        book.discard()


def test_an_abandoned_workbook_leaves_nothing_for_zipfile_to_finish(monkeypatch):
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    for taken in (1, 3):
        chunks = stream(20_000)
        for _ in range(taken):
            next(chunks)
        chunks.close()  # what the server does when the reader goes away
        del chunks
        gc.collect()
    assert [f"{u.exc_type.__name__}: {u.exc_value} in {u.object}" for u in ignored] == []


def test_a_finished_workbook_is_still_whole():
    data = b"".join(stream(100))
    assert data.startswith(b"PK") and data[-22:-18] == b"PK\x05\x06"

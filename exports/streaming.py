"""Helpers for writers that run on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")


async def taking_turns(records: AsyncIterable[T], every: int = 100) -> AsyncIterator[T]:
    """Pass records through, giving the event loop a turn every `every` records, so that a
    large export (rows are built between cursor fetches) never holds up phones' submissions
    for more than a few milliseconds."""
    count = 0
    async for record in records:
        yield record
        count += 1
        if count % every == 0:
            await asyncio.sleep(0)


class HeldStream:
    """A response body (an export, an OData page) that holds one of the server's stream slots (FIELDSURVEY_MAX_STREAMS),
    taken before the response starts, until its last byte, a failure, or its being dropped
    unstarted. A client that must wait for a slot so waits for the headers, not in the middle
    of a body: a queue of exports (central-backend's soak test asks 3 a second) then ends in
    timeouts the client reports, never in bodies stalled past its read timeout."""

    def __init__(self, slots: asyncio.Semaphore, body: AsyncIterator[bytes]):
        self._slots = slots
        self._body = body
        self._held = True

    @classmethod
    async def start(cls, slots: asyncio.Semaphore, make_body: Callable[[], AsyncIterator[bytes]]):
        await slots.acquire()
        return cls(slots, make_body())

    def _release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._body.__anext__()
        except BaseException:  # the end (StopAsyncIteration), a failure, a cancellation
            self._release()
            raise

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
        finally:
            self._release()

    def __del__(self) -> None:
        self._release()

"""Helpers for writers that run on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

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


async def prefetched(items: AsyncIterable[T]) -> AsyncIterator[T]:
    """`items` with its first item already fetched: what opening them needs (a connection, a
    snapshot, a cursor's query and first rows) has run, and failed here if it fails, before
    anything is written. The rest is fetched as it is read."""
    iterator = aiter(items)
    try:
        first = await anext(iterator)
    except StopAsyncIteration:
        return _after(iterator, ())
    return _after(iterator, (first,))


async def _after(rest: AsyncIterator[T], first: tuple[T, ...]) -> AsyncIterator[T]:
    try:
        for item in first:
            yield item
        async for item in rest:
            yield item
    finally:
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()


class HeldStream:
    """A response body (an export, an OData page) that holds one of the server's stream slots
    (FIELDSURVEY_MAX_STREAMS) from before the response starts until its last byte, a failure,
    or its being dropped unstarted. A client that must wait for a slot so waits for the
    headers, not in the middle of a body: a queue of exports (central-backend's soak test asks
    3 a second) then ends in timeouts the client reports, never in bodies stalled past its
    read timeout.

    Everything that can fail is checked before the first byte: `start` takes the body's first
    chunk before the response starts, and a body opens what it reads (its own connection, its
    snapshot, its cursors' first rows: `prefetched`) before its first chunk. A database that
    refuses is then the request's error (a problem, and no 200); only a failure later in the
    body can still cut one short."""

    def __init__(self, slots: asyncio.Semaphore, body: AsyncIterator[bytes]):
        self._slots = slots
        self._body = body
        self._held = True

    @classmethod
    async def start(cls, slots: asyncio.Semaphore, make_body: Callable[[], AsyncIterator[bytes]]):
        await slots.acquire()
        try:
            body = await prefetched(make_body())
        except BaseException:
            slots.release()
            raise
        return cls(slots, body)

    async def then(self, step: Awaitable[Any]) -> HeldStream:
        """Run the request's last step (its audit row) with the body open; if it fails, the
        body is closed (its connection, its slot) and the failure is the request's."""
        try:
            await step
        except BaseException:
            await self.aclose()
            raise
        return self

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

"""Helpers for writers that run on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
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

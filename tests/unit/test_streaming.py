"""Exports give the event loop a turn while they build rows."""

from __future__ import annotations

import asyncio

from exports.streaming import taking_turns


async def test_taking_turns_passes_everything_and_lets_others_run() -> None:
    ticks = 0

    async def other_task() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def source():
        for i in range(1000):
            yield i  # an async generator that never awaits anything itself

    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    start = ticks
    got = [r async for r in taking_turns(source(), every=100)]
    task.cancel()
    assert got == list(range(1000))
    assert ticks - start >= 9  # one turn per 100 records

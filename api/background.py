"""The app's background loops (the summary folder, the publisher): stopped at shutdown
without ever failing it. A loop catches and logs what goes wrong in a round and goes on;
should one end anyway, its exception is logged here, not raised into the shutdown."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("fieldsurvey")


async def stop_background_task(task: asyncio.Task, name: str, timeout: float = 10) -> None:
    """Cancel `task` and wait for it (at most `timeout` seconds); whatever it ended with is
    logged. Never raises, except when the shutdown itself is cancelled."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.error("the %s did not stop within %s s", name, timeout)
    elif not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("the %s had ended with %s: %s", name, type(exc).__name__, exc,
                  exc_info=exc)

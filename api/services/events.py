"""The outbox: the one way for work after a commit (alerts, webhooks, follow-up checks).

Writing. A change writes its event row in its own transaction, so the event exists exactly
when the change does: submissions' versions and reviews and entities' versions by triggers
(migration 0070: every store path, OpenRosa, REST, the browser, edits, the CLI, writes them
alike), anything else by `emit_event(conn, ...)` inside the caller's transaction.

Handling. One worker among all server processes (the holder of a PostgreSQL advisory lock,
on a connection of its own; another process takes over when it goes away) claims pending
events oldest first and hands each batch to every handler in `event_handlers()`, inside the
transaction that then marks the events handled: what a handler writes (alert rows, webhook
deliveries) commits together with "handled", so a crash or restart redoes the batch, never
half of it (at least once; handlers are idempotent by their unique keys). A batch that fails
is retried event by event; an event that fails is retried with backoff and holds back the
later events of its record (in order per record). Sending to the outside (email, webhooks)
is the handlers' own queues, which the same worker drains after each round (`senders`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from api.background import stop_background_task
from api.settings import Settings
from db import events as events_db
from db.pool import connect

log = logging.getLogger("fieldsurvey.events")

# the worker's advisory lock: one worker across every server process
_WORKER_LOCK = 7_240_551_070
BATCH_SIZE = 500
# handled events are kept this long (for inspection), then dropped
KEEP_HANDLED_DAYS = 7


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # submission.created | submission.updated | submission.reviewed | entity.created...
    project_id: int
    subject: str  # the record: submission/ID, entity/UUID, case/UUID
    form_id: int | None
    actor_id: int | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Event:
        return cls(row["id"], row["kind"], row["project_id"], row["subject"], row["form_id"],
                   row["actor_id"], dict(row["details"] or {}), row["created_at"])


async def emit_event(
    conn: asyncpg.Connection, kind: str, project_id: int, subject: str, *,
    form_id: int | None = None, actor_id: int | None = None, details: dict | None = None,
) -> int:
    """Write an event in the caller's transaction (call it inside the transaction that makes
    the change, so the event commits with it and not otherwise). `kind` is `noun.verb`
    (e.g. `case.referred`); `subject` names the record (`case/UUID`), whose events are
    handled in the order written; `details` carries ids and codes, never personal data.
    Returns the event's id."""
    return await events_db.insert_event(
        conn, kind, project_id, subject, form_id=form_id, actor_id=actor_id, details=details
    )


# A handler gets a batch of events, in order, on the worker's connection inside the
# transaction that marks them handled; it must be idempotent (the batch may come again).
Handler = Callable[[asyncpg.Connection, Sequence[Event]], Awaitable[None]]
# A sender drains a queue a handler filled (emails, webhook deliveries): after each round.
Sender = Callable[[asyncpg.Pool, Settings], Awaitable[None]]


def event_handlers() -> tuple[Handler, ...]:
    """Every handler, in the order they run on a batch."""
    from api.services import alerts, cases, webhooks

    return (alerts.on_events, cases.on_events, webhooks.on_events)


def senders() -> tuple[Sender, ...]:
    """What sends to the outside, after each round: the queues the handlers fill."""
    from api.services import alerts, webhooks

    return (alerts.send_due_emails, webhooks.send_due_deliveries)


async def handle_pending(
    conn: asyncpg.Connection, handlers: Sequence[Handler] | None = None, *,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Hand the pending events to the handlers (one round, at most `batch_size` events).
    Returns how many were handled."""
    handlers = event_handlers() if handlers is None else handlers
    try:
        async with conn.transaction():
            rows = await events_db.claim_pending(conn, batch_size)
            if not rows:
                return 0
            events = [Event.from_row(r) for r in rows]
            for handler in handlers:
                await handler(conn, events)
            await events_db.mark_handled(conn, [e.id for e in events])
        return len(events)
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
        raise
    except Exception:
        log.exception("handling a batch of events failed; handling them one by one")
    return await _handle_one_by_one(conn, handlers, batch_size)


async def _handle_one_by_one(
    conn: asyncpg.Connection, handlers: Sequence[Handler], batch_size: int
) -> int:
    handled = 0
    async with conn.transaction():
        rows = await events_db.claim_pending(conn, batch_size)
        failed_subjects: set[str] = set()
        for row in rows:
            event = Event.from_row(row)
            if event.subject in failed_subjects:
                continue  # waits for the failing event of its record
            try:
                async with conn.transaction():  # a savepoint: a failure undoes only this
                    for handler in handlers:
                        await handler(conn, [event])
                    await events_db.mark_handled(conn, [event.id])
                handled += 1
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                raise
            except Exception as exc:
                log.exception("handling event %s (%s) failed", event.id, event.kind)
                failed_subjects.add(event.subject)
                await events_db.mark_failed(conn, event.id, f"{type(exc).__name__}: {exc}")
    return handled


class OutboxWorker:
    """The worker loop of one server process: waits for the advisory lock, then hands events
    to handlers every `events_interval_seconds` and runs the senders after each round."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, settings: Settings):
        self.dsn = dsn
        self.pool = pool
        self.settings = settings
        self.is_leader = False
        self._last_prune = 0.0
        self._last_followup_check = 0.0

    async def run(self) -> None:
        while True:
            try:
                await self._lead_while_connected()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away, or a bug: logged, tried again
                log.exception("the outbox worker failed; starting again")
            self.is_leader = False
            await asyncio.sleep(self.settings.events_interval_seconds * 5)

    async def _lead_while_connected(self) -> None:
        conn = await connect(self.dsn)
        try:
            # the lock is the session's: it goes with the connection, whatever ends it
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _WORKER_LOCK):
                await asyncio.sleep(self.settings.events_interval_seconds * 5)
            self.is_leader = True
            await self.on_lead(conn)
            while True:
                await self.round(conn)
                await asyncio.sleep(self.settings.events_interval_seconds)
        finally:
            self.is_leader = False
            conn.terminate()

    async def on_lead(self, conn: asyncpg.Connection) -> None:
        """Becoming the worker: what the previous one was sending is sent again (it may have
        been cut off mid-way: at least once)."""
        from db import webhooks as webhooks_db

        await webhooks_db.release_all(conn)

    async def round(self, conn: asyncpg.Connection) -> None:
        from api.services import alerts

        while await handle_pending(conn) == BATCH_SIZE:
            pass  # a backlog: the next batch at once
        for send in senders():
            try:
                await send(self.pool, self.settings)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                raise
            except Exception:
                log.exception("%s failed", getattr(send, "__name__", send))
        if time.monotonic() - self._last_followup_check > alerts.FOLLOWUP_CHECK_SECONDS:
            async with conn.transaction():
                await alerts.check_due_followups(conn, alerts.today_in_dushanbe())
            self._last_followup_check = time.monotonic()
        if time.monotonic() - self._last_prune > 3600:
            await events_db.delete_handled_before(conn, KEEP_HANDLED_DAYS)
            self._last_prune = time.monotonic()


@asynccontextmanager
async def outbox_in_background(app) -> AsyncIterator[None]:
    """An app lifespan (after the one that opens the pool): the outbox worker (one across
    every process; the others wait to take over). `events_interval_seconds` 0: no worker."""
    settings: Settings = app.state.settings
    task = None
    if settings.events_interval_seconds > 0:
        worker = app.state.outbox = OutboxWorker(app.state.dsn, app.state.pool, settings)
        task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        if task is not None:
            await stop_background_task(task, "outbox worker")

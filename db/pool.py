"""The asyncpg pool: opened in the app's lifespan, closed on shutdown.

Giving a connection back. asyncpg's pool rolls back an open transaction and drops listeners,
then by default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` -
one more round trip and a statement on every request. The app keeps no session state on a
pooled connection: settings are `SET LOCAL`, cursors live in transactions, nothing LISTENs,
and session advisory locks are taken only through `session_advisory_lock`, which releases
them (or on a connection of their own, closed after: the publisher's). So the full reset runs
only for a connection that may still hold such a lock (its unlock did not run), and otherwise
nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


def _encode_json(value) -> str:
    return _encode.encode(value).decode("utf-8")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("jsonb", "json"):
        await conn.set_type_codec(
            name, encoder=_encode_json, decoder=_decode.decode, schema="pg_catalog"
        )


# connections that may hold a session advisory lock (taken, its unlock not yet done)
_session_state: weakref.WeakSet = weakref.WeakSet()


def _raw(conn):
    """The connection itself when given a pool's proxy (the marks must outlive the proxy)."""
    return getattr(conn, "_con", None) or conn


@asynccontextmanager
async def session_advisory_lock(conn: asyncpg.Connection, *key: int) -> AsyncIterator[None]:
    """pg_advisory_lock(key) for the block, unlocked after it. Until the unlock has run, the
    connection is marked, so that the pool resets it fully if it comes back still holding it."""
    placeholders = ", ".join(f"${i + 1}" for i in range(len(key)))
    _session_state.add(_raw(conn))
    await conn.execute(f"SELECT pg_advisory_lock({placeholders})", *key)
    try:
        yield
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({placeholders})", *key)
        _session_state.discard(_raw(conn))


async def reset_connection(conn: asyncpg.Connection) -> None:
    """The pool's reset (see the module's note): the full reset query only when needed."""
    raw = _raw(conn)
    if raw in _session_state:
        await conn.execute(conn.get_reset_query())
        _session_state.discard(raw)


async def open_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 20, command_timeout: float | None = 60
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=reset_connection,
        command_timeout=command_timeout,
    )


# Exceptions after which a connection's state is unknown (PostgreSQL died mid-protocol, the
# connection is closed under us): it must not go back to the pool as it is.
BROKEN_CONNECTION = (asyncpg.exceptions.InternalClientError, asyncpg.InterfaceError)


@asynccontextmanager
async def pool_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pool connection for background work: one that a failure left broken is terminated
    before it goes back, so the pool opens a new one instead of handing it out again."""
    conn = await pool.acquire()
    try:
        yield conn
    except (*BROKEN_CONNECTION, asyncpg.PostgresConnectionError, OSError):
        conn.terminate()
        raise
    finally:
        await pool.release(conn)


async def close_pool(pool: asyncpg.Pool, timeout: float = 10) -> None:
    """Close the pool at shutdown; connections that do not close in time (or broken ones)
    are terminated. Never raises: shutdown goes on (and stops the embedded PostgreSQL)."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except Exception as exc:
        log.warning("closing the database pool failed (%s: %s); terminating it",
                    type(exc).__name__, exc)
        pool.terminate()


class DatabaseRefused(ConnectionError):
    """PostgreSQL refused a new connection: it accepts none now (ALLOW_CONNECTIONS, too many,
    starting up or shutting down) or not ours. A ConnectionError: the database is gone for
    the one who asked."""


async def connect(dsn: str, *, timeout: float = 60) -> asyncpg.Connection:
    """A single connection with the same codecs (for streams with their own connection, CLI)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except asyncpg.PostgresError as exc:
        raise DatabaseRefused(f"PostgreSQL refused a connection: {exc}") from exc
    try:
        await _init_connection(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


@asynccontextmanager
async def read_snapshot(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own in a read-only REPEATABLE READ transaction (a stream's one
    consistent snapshot, for server-side cursors): closed at the end; dropped (terminated) if
    the reader fails or goes away, which is quicker than rolling back over the wire."""
    conn = await connect(dsn)
    finished = False
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn
        finished = True
    finally:
        if finished:
            await conn.close()
        else:
            conn.terminate()

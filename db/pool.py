"""The asyncpg pool: opened in the app's lifespan, closed on shutdown."""

from __future__ import annotations

import asyncpg
import msgspec

_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


def _encode_json(value) -> str:
    return _encode.encode(value).decode("utf-8")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("jsonb", "json"):
        await conn.set_type_codec(
            name, encoder=_encode_json, decoder=_decode.decode, schema="pg_catalog"
        )


async def open_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 20, command_timeout: float | None = 60
) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=command_timeout,
    )


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

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


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection with the same codecs (for streams with their own connection, CLI)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn

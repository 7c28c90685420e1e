"""SQL of two-factor login: user_totp (a user's authenticator secret), user_recovery_codes
(hashes of single-use codes) and login_challenges (logins waiting for the second factor)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# A new secret being set up, or the one already being set up (an enrolled user keeps theirs:
# only an administrator's reset, or turning it off with a code, removes it).
START_ENROLMENT = """
INSERT INTO user_totp (actor_id, secret) VALUES ($1, $2)
ON CONFLICT (actor_id) DO UPDATE SET actor_id = EXCLUDED.actor_id
WHERE user_totp.confirmed_at IS NULL
RETURNING secret, confirmed_at
"""
SELECT_TOTP = "SELECT secret, confirmed_at, last_step FROM user_totp WHERE actor_id = $1"
# A code is accepted only for a time step after the last one accepted, in one statement: two
# requests with the same code at once cannot both pass.
ACCEPT_STEP = """
UPDATE user_totp SET last_step = $2
WHERE actor_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2
RETURNING true
"""
CONFIRM = """
UPDATE user_totp SET confirmed_at = now(), last_step = $2
WHERE actor_id = $1 AND confirmed_at IS NULL AND last_step < $2
RETURNING confirmed_at
"""
DELETE_TOTP = "DELETE FROM user_totp WHERE actor_id = $1 RETURNING confirmed_at"
DELETE_RECOVERY_CODES = "DELETE FROM user_recovery_codes WHERE actor_id = $1"
INSERT_RECOVERY_CODES = """
INSERT INTO user_recovery_codes (actor_id, code_hash) SELECT $1, unnest($2::bytea[])
"""
USE_RECOVERY_CODE = """
UPDATE user_recovery_codes SET used_at = now()
WHERE actor_id = $1 AND code_hash = $2 AND used_at IS NULL
RETURNING true
"""
COUNT_RECOVERY_CODES = """
SELECT count(*) FROM user_recovery_codes WHERE actor_id = $1 AND used_at IS NULL
"""

INSERT_CHALLENGE = """
INSERT INTO login_challenges (token_hash, actor_id, purpose, expires_at) VALUES ($1, $2, $3, $4)
"""
SELECT_CHALLENGE = """
SELECT c.actor_id, c.purpose, c.expires_at FROM login_challenges c
JOIN actors a ON a.id = c.actor_id
WHERE c.token_hash = $1 AND c.expires_at > now() AND a.deleted_at IS NULL
"""
DELETE_CHALLENGE = "DELETE FROM login_challenges WHERE token_hash = $1 RETURNING actor_id"
DELETE_CHALLENGES_OF = "DELETE FROM login_challenges WHERE actor_id = $1"
DELETE_EXPIRED_CHALLENGES = "DELETE FROM login_challenges WHERE expires_at <= now()"


async def start_enrolment(conn: asyncpg.Connection, actor_id: int, secret: str) -> asyncpg.Record | None:
    """The secret being set up (`secret` when there was none); None when the user has two-factor
    login already."""
    return await conn.fetchrow(START_ENROLMENT, actor_id, secret)


async def get_totp(conn: asyncpg.Connection, actor_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_TOTP, actor_id)


async def is_enrolled(conn: asyncpg.Connection, actor_id: int) -> bool:
    row = await conn.fetchrow(SELECT_TOTP, actor_id)
    return row is not None and row["confirmed_at"] is not None


async def accept_step(conn: asyncpg.Connection, actor_id: int, step: int) -> bool:
    return bool(await conn.fetchval(ACCEPT_STEP, actor_id, step))


async def confirm(conn: asyncpg.Connection, actor_id: int, step: int) -> datetime | None:
    return await conn.fetchval(CONFIRM, actor_id, step)


async def delete_totp(conn: asyncpg.Connection, actor_id: int) -> bool:
    """Removes the user's authenticator (set up or being set up) and recovery codes; True when
    two-factor login was on."""
    confirmed = await conn.fetchval(DELETE_TOTP, actor_id)
    await conn.execute(DELETE_RECOVERY_CODES, actor_id)
    return confirmed is not None


async def replace_recovery_codes(
    conn: asyncpg.Connection, actor_id: int, code_hashes: list[bytes]
) -> None:
    await conn.execute(DELETE_RECOVERY_CODES, actor_id)
    await conn.execute(INSERT_RECOVERY_CODES, actor_id, code_hashes)


async def use_recovery_code(conn: asyncpg.Connection, actor_id: int, code_hash: bytes) -> bool:
    return bool(await conn.fetchval(USE_RECOVERY_CODE, actor_id, code_hash))


async def count_recovery_codes(conn: asyncpg.Connection, actor_id: int) -> int:
    return await conn.fetchval(COUNT_RECOVERY_CODES, actor_id)


async def create_challenge(
    conn: asyncpg.Connection, token_hash: bytes, actor_id: int, purpose: str, expires_at: datetime
) -> None:
    await conn.execute(DELETE_EXPIRED_CHALLENGES)
    await conn.execute(INSERT_CHALLENGE, token_hash, actor_id, purpose, expires_at)


async def get_challenge(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CHALLENGE, token_hash)


async def delete_challenge(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    return await conn.fetchval(DELETE_CHALLENGE, token_hash) is not None


async def delete_challenges_of(conn: asyncpg.Connection, actor_id: int) -> None:
    await conn.execute(DELETE_CHALLENGES_OF, actor_id)

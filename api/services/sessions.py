"""Logging in with a password, for the pages (/login) and REST (POST /v1/sessions) alike: the
throttle of failed attempts (api/auth.py `check_throttle`, shared with HTTP Basic and Digest),
the second factor (api/services/two_factor.py), the session, the audit log, and purging
expired sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from api.auth import (
    Actor,
    actor_from_password,
    check_throttle,
    new_token,
    normal_login,
    record_failure,
    second_factor_required,
    token_hash,
)
from api.problems import Problem
from api.services import two_factor
from api.settings import Settings
from db import audits
from db import two_factor as two_factor_db
from db import users as users_db


@dataclass(frozen=True)
class NewSession:
    actor: Actor
    token: str
    created_at: datetime
    expires_at: datetime


async def check_password(
    conn: asyncpg.Connection, email: str, password: str, ip: str | None, settings: Settings,
    via: str,
) -> Actor:
    """The first factor: the actor of the right email and password; auth-failed (401) counted
    as a failed login otherwise, and login-throttled (429) after too many failures."""
    email = normal_login(email)
    await check_throttle(conn, email, ip, settings)
    actor = await actor_from_password(conn, email, password or "")
    if actor is None:
        await record_failure(conn, email, ip, via)
        raise Problem("auth-failed")
    return actor


async def start_session(
    conn: asyncpg.Connection, actor: Actor, ip: str | None, settings: Settings,
    factor: str | None = None,
) -> NewSession:
    """A new session of a user who has logged in (`factor`: the second factor given, 'totp' or
    'recovery'), with its audit row; expired sessions are purged on the way."""
    token = new_token()
    expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
    details = {"ip": ip, **({"factor": factor} if factor else {})}
    async with conn.transaction():
        row = await users_db.create_session(conn, token_hash(token), actor.id, expires)
        await audits.log_audit(conn, actor.id, "user.session.create", f"user/{actor.id}", details)
        await users_db.delete_expired_sessions(conn)
    return NewSession(actor, token, row["created_at"], row["expires_at"])


async def password_login(
    conn: asyncpg.Connection, email: str, password: str, ip: str | None, settings: Settings,
    via: str = "rest", code: str | None = None,
) -> NewSession:
    """A new session for the right email and password (POST /v1/sessions), and for an account
    with two-factor login the right `code` (the authenticator app's, or a recovery code):
    without it second-factor-required (401), a wrong one second-factor-failed (401) counted as
    a failed login. An account FIELDSURVEY_REQUIRE_2FA concerns that has not set it up gets
    second-factor-setup-required (403): it sets it up on the login page first."""
    actor = await check_password(conn, email, password, ip, settings, via)
    factor = None
    if await two_factor_db.is_enrolled(conn, actor.id):
        if not code:
            raise Problem("second-factor-required")
        factor = await two_factor.check_code(conn, actor, code, ip, settings, via)
    elif second_factor_required(actor, settings.require_2fa):
        raise Problem("second-factor-setup-required")
    return await start_session(conn, actor, ip, settings, factor)

"""Logging in with a password, for the pages (/login) and REST (POST /v1/sessions) alike: the
throttle of failed attempts (api/auth.py `check_throttle`, shared with HTTP Basic and Digest),
the session, the audit log, and purging expired sessions."""

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
    token_hash,
)
from api.problems import Problem
from api.settings import Settings
from db import audits
from db import users as users_db


@dataclass(frozen=True)
class NewSession:
    actor: Actor
    token: str
    created_at: datetime
    expires_at: datetime


async def password_login(
    conn: asyncpg.Connection, email: str, password: str, ip: str | None, settings: Settings,
    via: str = "rest",
) -> NewSession:
    """A new session for the right email and password; auth-failed (401) otherwise, and
    login-throttled (429) after too many failures. Expired sessions are purged on the way."""
    email = normal_login(email)
    await check_throttle(conn, email, ip, settings)
    actor = await actor_from_password(conn, email, password or "")
    if actor is None:
        await record_failure(conn, email, ip, via)
        raise Problem("auth-failed")
    token = new_token()
    expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
    async with conn.transaction():
        row = await users_db.create_session(conn, token_hash(token), actor.id, expires)
        await audits.log_audit(conn, actor.id, "user.session.create", f"user/{actor.id}", {"ip": ip})
        await users_db.delete_expired_sessions(conn)
    return NewSession(actor, token, row["created_at"], row["expires_at"])

"""Logging in with a password, for the pages (/login), REST (POST /v1/sessions), HTTP Basic
(REST and OpenRosa) and Digest (Collect) alike: throttling of failed attempts, the session,
the audit log, and purging expired sessions.

Throttling counts the failures recorded in the audit log (`user.session.failed`, acted on the
email given, with the caller's address and how it came: page, rest, basic, digest), so every
server process and every way of logging in sees the same counts (Settings:
login_window_seconds 900, login_account_limit 5, login_account_total_limit 100,
login_address_limit 20). As OWASP's authentication guidance has it, by account and address
together, so that someone guessing from elsewhere does not lock the owner out:
- an account and an address: that many failures to the account from the address within the
  window stop that address for that account (the right password does not help meanwhile);
- an account from everywhere: that many failures (any addresses, a spread-out guess) stop it
  for every address except those it logged in from in the last 90 days (its owner's);
- an address: that many failures within the window (any accounts) stop that address. Behind a
  proxy, the address is the client's only with `serve --forwarded-allow-ips`.
A refused attempt is answered 429 with Retry-After before the password is checked (no argon2
work for it) and is not counted again, so a lock ends a window after the last failure counted.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from api.auth import (
    Actor,
    actor_from_basic,
    actor_from_password,
    new_token,
    remembered_basic,
    token_hash,
)
from api.i18n import N_
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


KNOWN_DAYS = 90  # an address the account logged in from this recently is its owner's


def normal_login(email: str) -> str:
    """The email a login names, as failures are counted under it: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", email or "").strip().lower()


async def record_failure(conn: asyncpg.Connection, email: str, ip: str | None, via: str) -> None:
    """A failed login (`via`: page, rest, basic, digest), counted by `check_throttle`."""
    async with conn.transaction():
        await audits.log_audit(conn, None, "user.session.failed", normal_login(email),
                               {"ip": ip, "via": via})


def _retry_after(oldest: datetime | None, now: datetime, window: int) -> int:
    if oldest is None:
        return window
    left = (oldest + timedelta(seconds=window) - now).total_seconds()
    return max(1, math.ceil(left))


async def check_throttle(conn: asyncpg.Connection, email: str, ip: str | None, settings: Settings) -> None:
    """Raises login-throttled (429, Retry-After) when the account or the address has failed
    too often within the window."""
    window = settings.login_window_seconds
    email = normal_login(email)
    row = await audits.login_failures(conn, email, ip, window)
    waits = []
    if row["pair"] >= settings.login_account_limit:
        waits.append(_retry_after(row["pair_oldest"], row["now"], window))
    if row["account"] >= settings.login_account_total_limit and (
            ip is None or not await audits.known_login_address(conn, email, ip, KNOWN_DAYS)):
        waits.append(_retry_after(row["account_oldest"], row["now"], window))
    if ip is not None and row["address"] >= settings.login_address_limit:
        waits.append(_retry_after(row["address_oldest"], row["now"], window))
    if waits:
        wait = max(waits)
        raise Problem(
            "login-throttled",
            N_("Too many failed logins; try again in %(minutes)s minutes."),
            params={"minutes": math.ceil(wait / 60)},
            headers={"Retry-After": str(wait)},
            extra={"retryAfter": wait},
        )


async def basic_login(
    conn: asyncpg.Connection, email: str, password: str, ip: str | None, settings: Settings
) -> Actor:
    """HTTP Basic (REST and OpenRosa over HTTPS): the actor, or auth-failed (401) counted as a
    failed login, or login-throttled (429). A success is remembered for a few seconds
    (api/auth.py `remembered_basic`, checked against the account's current password)."""
    remembered = await remembered_basic(conn, email, password)
    if remembered is not None:
        return remembered
    await check_throttle(conn, email, ip, settings)
    actor = await actor_from_basic(conn, email, password)
    if actor is None:
        await record_failure(conn, email, ip, "basic")
        raise Problem("auth-failed")
    return actor


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

"""Two-factor login for web users: an authenticator app's time-based codes (TOTP, RFC 6238,
PyPI `pyotp`) after the password, with ten single-use recovery codes for a lost phone.

- Setting up: a secret is made and shown as a QR code (segno, as the app users' codes) and as
  text; the first code from the app confirms it, and the recovery codes are shown once (only
  their hashes are kept).
- Logging in: the pages ask for the code after the password (a login challenge, minutes long);
  `POST /v1/sessions` takes it as `code` (api/services/sessions.py). A wrong code is a failed
  login like a wrong password (api/auth.py `check_throttle` and `record_failure`), and each code
  is accepted once (the time step of the last one accepted is kept).
- FIELDSURVEY_REQUIRE_2FA (api/auth.py `second_factor_required`) makes it mandatory: at the next
  login the user sets it up before anything else.
- An administrator (pages, or the operator with `fieldsurvey user reset-2fa`) resets a lost
  device: the authenticator and the codes are removed, the user's sessions end; audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pyotp

from api.app_users import draw_qr_png
from api.auth import (
    Actor,
    actor_from_user_row,
    check_throttle,
    new_token,
    record_failure,
    require_actor,
    require_admin,
    second_factor_required,
    token_hash,
)
from api.i18n import N_
from api.problems import Problem
from api.settings import Settings
from db import audits
from db import two_factor as two_factor_db
from db import users as users_db

ISSUER = "fieldsurvey"  # the name the authenticator app shows beside the account
STEP_SECONDS = 30  # RFC 6238's time step, which every authenticator app uses
DRIFT_STEPS = 1  # a code of the step before or after is accepted (a phone's clock drifts)
RECOVERY_CODES = 10
CHALLENGE_MINUTES = 10  # how long a login may wait between the password and the code


# --- codes (pure) --------------------------------------------------------------------------


def new_secret() -> str:
    """160 random bits, base32 (32 characters), as RFC 4226 recommends."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_data_uri(secret: str, email: str) -> str:
    png = draw_qr_png(provisioning_uri(secret, email), scale=5)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def grouped(text: str, size: int = 4, sep: str = " ") -> str:
    """'ABCDEFGH' -> 'ABCD EFGH': a key or a code as a person copies it."""
    return sep.join(text[i:i + size] for i in range(0, len(text), size))


def time_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is, within DRIFT_STEPS of now; None if none is."""
    totp = pyotp.TOTP(secret)
    current = time_step(now)
    for step in range(max(0, current - DRIFT_STEPS), current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODES codes of 80 random bits each, as 'abcd-efgh-ijkl-mnop' (base32)."""
    return [grouped(base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower(), sep="-")
            for _ in range(RECOVERY_CODES)]


def recovery_code_hash(actor_id: int, code: str) -> bytes:
    return hashlib.sha256(f"{actor_id}:{normal_code(code)}".encode()).digest()


def normal_code(code: str) -> str:
    """A code as typed: full-width or other compatibility characters made plain (NFKC), spaces
    and dashes dropped, lower case."""
    code = unicodedata.normalize("NFKC", code or "")
    return "".join(ch for ch in code if not ch.isspace() and ch != "-").lower()


def is_totp_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


# --- the state of a user ---------------------------------------------------------------------


@dataclass(frozen=True)
class TwoFactorState:
    enabled: bool
    since: datetime | None
    recovery_codes_left: int
    required: bool  # FIELDSURVEY_REQUIRE_2FA concerns this user


async def state_of(conn: asyncpg.Connection, actor: Actor, settings: Settings) -> TwoFactorState:
    row = await two_factor_db.get_totp(conn, actor.id)
    enabled = row is not None and row["confirmed_at"] is not None
    return TwoFactorState(
        enabled=enabled,
        since=row["confirmed_at"] if enabled else None,
        recovery_codes_left=await two_factor_db.count_recovery_codes(conn, actor.id) if enabled else 0,
        required=second_factor_required(actor, settings.require_2fa),
    )


# --- checking a code ------------------------------------------------------------------------


async def _accepts(conn: asyncpg.Connection, actor_id: int, code: str,
                   now: float | None) -> str | None:
    """'totp' or 'recovery' when `code` is a good code of the user's (and uses it up); None."""
    row = await two_factor_db.get_totp(conn, actor_id)
    if row is None or row["confirmed_at"] is None:
        return None
    code = normal_code(code)
    if is_totp_code(code):
        step = matching_step(row["secret"], code, now)
        if step is not None and await two_factor_db.accept_step(conn, actor_id, step):
            return "totp"
        return None
    if len(code) != 16:
        return None
    if await two_factor_db.use_recovery_code(conn, actor_id, recovery_code_hash(actor_id, code)):
        return "recovery"
    return None


async def check_code(
    conn: asyncpg.Connection, actor: Actor, code: str | None, ip: str | None,
    settings: Settings, via: str, *, now: float | None = None,
) -> str:
    """The second factor of `actor` (a web user with two-factor login): 'totp' or 'recovery'
    when `code` is good (it is then used up), else second-factor-failed (401) counted as a
    failed login of the account, or login-throttled (429) when the account or the address has
    failed too often (the same counts as wrong passwords)."""
    email = actor.email or ""
    await check_throttle(conn, email, ip, settings)
    factor = await _accepts(conn, actor.id, code or "", now)
    if factor is None:
        await record_failure(conn, email, ip, via)
        raise Problem("second-factor-failed")
    if factor == "recovery":
        await audits.log_audit(conn, actor.id, "user.two_factor.recovery_code", f"user/{actor.id}",
                               {"ip": ip, "left": await two_factor_db.count_recovery_codes(conn, actor.id)})
    return factor


# --- setting up, turning off, resetting ------------------------------------------------------


async def start_enrolment(conn: asyncpg.Connection, actor: Actor) -> str | None:
    """The secret to show (a new one, or the one being set up); None when the user has two-factor
    login already."""
    actor = require_actor(actor)
    if actor.type != "user":
        raise Problem("forbidden", N_("Only a web user can use two-factor login."))
    row = await two_factor_db.start_enrolment(conn, actor.id, new_secret())
    return None if row is None else row["secret"]


async def confirm_enrolment(
    conn: asyncpg.Connection, actor: Actor, code: str | None, ip: str | None, settings: Settings,
    via: str, *, now: float | None = None,
) -> list[str]:
    """Turns two-factor login on with the first code from the app; returns the recovery codes
    (shown once). A wrong code is second-factor-failed, counted as a failed login."""
    email = actor.email or ""
    await check_throttle(conn, email, ip, settings)
    row = await two_factor_db.get_totp(conn, actor.id)
    if row is None or row["confirmed_at"] is not None:
        raise Problem("request-invalid", N_("Two-factor login is not being set up for this account."))
    code = normal_code(code or "")
    step = matching_step(row["secret"], code, now) if is_totp_code(code) else None
    codes = new_recovery_codes()
    async with conn.transaction():
        if step is None or await two_factor_db.confirm(conn, actor.id, step) is None:
            failed = True
        else:
            failed = False
            await two_factor_db.replace_recovery_codes(
                conn, actor.id, [recovery_code_hash(actor.id, c) for c in codes])
            await audits.log_audit(conn, actor.id, "user.two_factor.enable", f"user/{actor.id}",
                                   {"ip": ip})
    if failed:
        await record_failure(conn, email, ip, via)
        raise Problem("second-factor-failed")
    return codes


async def new_recovery_codes_for(
    conn: asyncpg.Connection, actor: Actor, code: str | None, ip: str | None, settings: Settings,
) -> list[str]:
    """New recovery codes in place of the old ones, with a current code; shown once."""
    await check_code(conn, actor, code, ip, settings, "page")
    codes = new_recovery_codes()
    async with conn.transaction():
        await two_factor_db.replace_recovery_codes(
            conn, actor.id, [recovery_code_hash(actor.id, c) for c in codes])
        await audits.log_audit(conn, actor.id, "user.two_factor.recovery_codes", f"user/{actor.id}",
                               {"ip": ip})
    return codes


async def disable(
    conn: asyncpg.Connection, actor: Actor, code: str | None, ip: str | None, settings: Settings,
) -> None:
    """The user turns two-factor login off with a current code; refused (403) when
    FIELDSURVEY_REQUIRE_2FA requires it of them."""
    if second_factor_required(actor, settings.require_2fa):
        raise Problem("forbidden", N_("This server requires two-factor login for your account; "
                                      "it cannot be turned off."))
    await check_code(conn, actor, code, ip, settings, "page")
    async with conn.transaction():
        await two_factor_db.delete_totp(conn, actor.id)
        await audits.log_audit(conn, actor.id, "user.two_factor.disable", f"user/{actor.id}",
                               {"ip": ip})


async def reset_for_user(conn: asyncpg.Connection, user_id: int, by: int | None) -> bool:
    """Removes a user's authenticator and recovery codes and ends their sessions and half-done
    logins, with the audit row (`by`: the administrator, None for the operator at the server);
    True when two-factor login was on. Who may is the caller's to check."""
    async with conn.transaction():
        was_on = await two_factor_db.delete_totp(conn, user_id)
        await two_factor_db.delete_challenges_of(conn, user_id)
        await users_db.delete_sessions_of(conn, user_id)
        await audits.log_audit(conn, by, "user.two_factor.reset", f"user/{user_id}",
                               {"wasOn": was_on})
    return was_on


async def reset_two_factor(conn: asyncpg.Connection, actor: Actor | None, user_id: int) -> bool:
    """An administrator resets the two-factor login of a user who lost their phone."""
    actor = require_admin(actor)
    if await users_db.get_user(conn, user_id) is None:
        raise Problem("user-not-found")
    return await reset_for_user(conn, user_id, actor.id)


# --- half-done logins (the pages) -------------------------------------------------------------


async def create_challenge(conn: asyncpg.Connection, actor: Actor, purpose: str) -> str:
    """A login that passed the password and waits for the code (`code`) or for setting up
    two-factor login (`enrol`): a token for the login pages' cookie."""
    token = new_token()
    expires = datetime.now(UTC) + timedelta(minutes=CHALLENGE_MINUTES)
    await two_factor_db.create_challenge(conn, token_hash(token), actor.id, purpose, expires)
    return token


async def challenge_of(conn: asyncpg.Connection, token: str | None) -> tuple[int, str] | None:
    """(user id, purpose) of a live challenge, None when unknown or expired."""
    if not token:
        return None
    row = await two_factor_db.get_challenge(conn, token_hash(token))
    return None if row is None else (row["actor_id"], row["purpose"])


async def end_challenge(conn: asyncpg.Connection, token: str) -> bool:
    """Used up (one login from one challenge): False when it was already used."""
    return await two_factor_db.delete_challenge(conn, token_hash(token))


async def login_step(conn: asyncpg.Connection, actor: Actor, settings: Settings) -> str | None:
    """What a user whose password was right still has to do on the login pages: 'code' (they
    have two-factor login), 'enrol' (FIELDSURVEY_REQUIRE_2FA requires it and they have not set
    it up), or None (they are logged in)."""
    if await two_factor_db.is_enrolled(conn, actor.id):
        return "code"
    if second_factor_required(actor, settings.require_2fa):
        return "enrol"
    return None


async def challenge_actor(conn: asyncpg.Connection, token: str | None) -> tuple[Actor, str] | None:
    """The user of a live challenge and its purpose; None when unknown, expired or the user was
    deactivated."""
    challenge = await challenge_of(conn, token)
    if challenge is None:
        return None
    row = await users_db.get_user(conn, challenge[0])
    if row is None:
        return None
    return await actor_from_user_row(conn, row), challenge[1]

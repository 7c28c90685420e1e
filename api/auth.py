"""Who is calling, and what they may do. Guards are plain functions over an `Actor`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import math
import re
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cachetools import TTLCache

from api.http import is_https
from api.i18n import N_
from api.problems import Problem
from db import audits
from db import nonces as nonces_db
from db import scopes as scopes_db
from db import two_factor as two_factor_db
from db import users as users_db
from db.scopes import RowScope

if TYPE_CHECKING:
    from litestar import Request

# argon2id (the argon2-cffi default type), with its RFC 9106 "low memory" profile.
_hasher = PasswordHasher()
# A hash to verify against when the email is unknown, so timing does not tell which emails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

ROLES = ("manager", "researcher", "ministry", "collector", "sensitive_reader")

# What each project role may do. `admin` (a user flag) may do everything everywhere.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "manager": frozenset(
        {
            "project.read",
            "form.list",
            "form.read",
            "form.create",
            "form.update",
            "form.download",
            "submission.create",
            "submission.read",
            "submission.update",
            "export",
            "summary.read",
            "app_user.manage",
            "dataset.update",
            "entity.read",
            "entity.update",
            "case.consent_override",  # a referral without recorded consent (with a reason)
            "sensitive.read",
            "audit.read",  # who viewed the project's records (api/services/reading.py)
            "webhook.manage",  # the project's webhooks and their delivery log
        }
    ),
    "researcher": frozenset(
        {
            "project.read",
            "form.list",
            "form.read",
            "form.download",
            "submission.read",
            "export",
            "summary.read",
            "entity.read",
        }
    ),
    "ministry": frozenset({"project.read", "summary.read"}),
    "collector": frozenset({"project.read", "form.list", "form.download", "submission.create"}),
    # given beside another role (a researcher who must see names): the questions that identify
    # a person unmasked, nothing else
    "sensitive_reader": frozenset({"sensitive.read"}),
}
# App users (phones) act as collectors in their own project.
FIELD_KEY_PERMISSIONS = ROLE_PERMISSIONS["collector"]
# A public access link may open its one form and submit to it (Central's "pub-link" role).
PUBLIC_LINK_PERMISSIONS = frozenset({"form.download", "submission.create"})
# Actors bound to one project and to the forms listed in `form_ids`.
FORM_BOUND_TYPES = ("field_key", "public_link")
# Permissions that expose microdata (used by summaries' disclosure control and the audit log).
MICRODATA_PERMISSIONS = frozenset({"submission.read", "export", "entity.read"})


@dataclass(frozen=True)
class Actor:
    id: int
    type: str  # "user" | "field_key" | "public_link"
    display_name: str
    is_admin: bool = False
    email: str | None = None
    roles: dict[int, frozenset[str]] = field(default_factory=dict)
    field_key_project: int | None = None  # an app user's or a public link's project
    form_ids: frozenset[int] = frozenset()  # an app user's assigned forms; a link's one form
    locale: str | None = None  # a web user's language for pages (users.locale), None: not chosen
    time_zone: str | None = None  # a web user's time zone for pages (users.time_zone)
    once: bool = False  # a public link that allows one submission per browser
    # a web user's row scopes by project (api/scopes.py reads them); none: the whole project
    scopes: dict[int, RowScope] = field(default_factory=dict)
    centre: str | None = None  # an app user's support centre (its phone gets those cases)

    def may_use_form(self, project_id: int, form_id: int) -> bool:
        """App users see and submit to the forms they are assigned to, a public link to its
        own form; others by role."""
        if self.type in FORM_BOUND_TYPES:
            return project_id == self.field_key_project and form_id in self.form_ids
        return True

    def permissions_in(self, project_id: int) -> frozenset[str]:
        if self.type in FORM_BOUND_TYPES:
            if project_id != self.field_key_project:
                return frozenset()
            return FIELD_KEY_PERMISSIONS if self.type == "field_key" else PUBLIC_LINK_PERMISSIONS
        perms: set[str] = set()
        for role in self.roles.get(project_id, ()):
            perms |= ROLE_PERMISSIONS[role]
        return frozenset(perms)

    def can(self, permission: str, project_id: int | None = None) -> bool:
        if self.is_admin:
            return True
        if project_id is None:
            return False
        return permission in self.permissions_in(project_id)

    def sees_microdata(self, project_id: int) -> bool:
        return self.is_admin or bool(MICRODATA_PERMISSIONS & self.permissions_in(project_id))


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise Problem("auth-required")
    return actor


def authorize(actor: Actor | None, permission: str, project_id: int | None = None) -> Actor:
    """The guard: returns the actor when allowed, else raises a 401/403 problem."""
    actor = require_actor(actor)
    if not actor.can(permission, project_id):
        raise Problem("forbidden", N_("This action needs the permission %(permission)s."),
                      params={"permission": repr(permission)})
    return actor


def may_read_sensitive(actor: Actor | None, project_id: int, centre: str | None = None) -> bool:
    """The one decision on questions that identify a person (`Field.sensitive`): whether the
    actor sees their answers and files (else `[masked]`, forms/sensitive.py, and 403 for the
    files). Managers and administrators do (`sensitive.read`); researchers do not unless a role
    gives it. `centre`, a record's support centre when the caller knows it, is for the case's
    own centre (row scopes, api/scopes.py): staff limited to that centre read its cases."""
    if actor is None:
        return False
    if actor.can("sensitive.read", project_id):
        return True
    return centre is not None and centre in _own_centres(actor, project_id)


def _own_centres(actor: Actor, project_id: int) -> frozenset[str]:
    """The support centres the actor's row scope in the project names (api/scopes.py)."""
    scope = actor.scopes.get(project_id)
    return frozenset(scope.centres) if scope is not None else frozenset()


def require_admin(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if not actor.is_admin:
        raise Problem("forbidden", N_("Only an administrator may do this."))
    return actor


def second_factor_required(actor: Actor, require_2fa: str) -> bool:
    """Whether FIELDSURVEY_REQUIRE_2FA (`off`, `admins`, `managers`: administrators and
    project managers, `all`) requires two-factor login of this web user."""
    if actor.type != "user" or require_2fa == "off":
        return False
    if require_2fa == "all" or actor.is_admin:
        return True
    return require_2fa == "managers" and any("manager" in roles for roles in actor.roles.values())


MIN_PASSWORD_LENGTH = 10  # as ODK Central


# Characters no one can see or tell apart in an address: controls, format characters (zero-width
# space and joiners, bidirectional marks, soft hyphen), separators, private and unassigned ones.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zs", "Zl", "Zp"})


def normal_email(email: str) -> str:
    """An email address as a user is known by it (REST, pages, CLI, login: this one rule):
    Unicode NFKC (full-width or other compatibility letters become the plain ones) and trimmed;
    request-invalid when it has no '@' or holds a character no one can see (a zero-width
    space, a control, a space inside): two addresses that look the same are the same."""
    email = unicodedata.normalize("NFKC", email or "").strip()
    if "@" not in email or any(unicodedata.category(ch) in _INVISIBLE_CATEGORIES
                               for ch in email):
        raise Problem("request-invalid", N_("email must be an email address, with no invisible "
                                            "characters or spaces."))
    return email


def check_new_password(password: str) -> None:
    """A password a user may be given: at least MIN_PASSWORD_LENGTH characters (REST, pages,
    CLI: this one rule)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Problem("password-too-short")  # its title says 10, in the user's language


def hash_password(password: str) -> str:
    return _hasher.hash(password)


DIGEST_REALM = "fieldsurvey"


def digest_ha1(email: str, password: str) -> str:
    """HA1 of HTTP Digest (RFC 7616, MD5): what the server must keep to check a Digest login
    from ODK Collect. It is a hash, not the password, but a weak one: it is kept only because
    Collect's login needs it."""
    return hashlib.md5(f"{email.strip().lower()}:{DIGEST_REALM}:{password}".encode()).hexdigest()


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(48)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    email, password = decoded.split(":", 1)
    return email, password


async def actor_from_session(conn, token: str) -> Actor | None:
    from db import users as users_db

    row = await users_db.get_session_actor(conn, token_hash(token))
    if row is None:
        return None
    return Actor(
        id=row["actor_id"],
        type=row["type"],
        display_name=row["display_name"],
        is_admin=row["is_admin"],
        email=row["email"],
        roles=await users_db.roles_of_actor(conn, row["actor_id"]),
        scopes=await scopes_db.scopes_of_actor(conn, row["actor_id"]),
        locale=row.get("locale"),
        time_zone=row.get("time_zone"),
    )


async def actor_from_user_row(conn, row) -> Actor:
    from db import users as users_db

    return Actor(
        id=row["id"],
        type="user",
        display_name=row["display_name"],
        is_admin=row["is_admin"],
        email=row["email"],
        roles=await users_db.roles_of_actor(conn, row["id"]),
        scopes=await scopes_db.scopes_of_actor(conn, row["id"]),
        locale=row.get("locale"),
        time_zone=row.get("time_zone"),
    )


# argon2 takes ~0.1-0.2 s of CPU by design: it runs in a worker thread so that the event loop
# (phones' submissions) never waits for it, at most two at a time.
_password_checks = threading.BoundedSemaphore(2)


def _verify_password_limited(password_hash: str | None, password: str) -> bool:
    with _password_checks:
        return verify_password(password_hash, password)


async def actor_from_password(conn, email: str, password: str) -> Actor | None:
    from db import users as users_db

    row = await users_db.get_user_by_email(conn, unicodedata.normalize("NFKC", email))
    ok = await asyncio.to_thread(
        _verify_password_limited, row["password_hash"] if row else None, password
    )
    if not ok:
        return None
    return await actor_from_user_row(conn, row)


# Clients that send HTTP Basic on every request (Excel, Power BI, ruODK) would pay argon2 each
# time: a successful check is remembered for BASIC_TTL seconds under a hash of the credentials,
# with the password hash it was checked against. A remembered login is used only while the
# account is active with that same password hash (one query, in every process): a password
# reset or a deactivation forgets it at once (api/services/sessions.py `basic_login`).
BASIC_TTL = 10.0
_basic_logins: TTLCache[bytes, tuple[Actor, str]] = TTLCache(maxsize=10_000, ttl=BASIC_TTL,
                                                              timer=time.monotonic)


def _basic_key(email: str, password: str) -> bytes:
    email = unicodedata.normalize("NFKC", email).strip().lower()
    return hashlib.sha256(f"{email}\0{password}".encode()).digest()


async def remembered_basic(conn, email: str, password: str) -> Actor | None:
    """The actor of a Basic login that succeeded in the last BASIC_TTL seconds, when the
    account is still active with the same password; None otherwise (and it is forgotten)."""
    from db import users as users_db

    key = _basic_key(email, password)
    cached = _basic_logins.get(key)
    if cached is None:
        return None
    actor, checked_hash = cached
    row = await users_db.get_user(conn, actor.id)
    if row is None or row["password_hash"] != checked_hash:
        _basic_logins.pop(key, None)
        return None
    return actor


def forget_basic_logins_of(actor_id: int) -> None:
    """A user's remembered Basic logins, forgotten when its roles' scope changes."""
    for key in [k for k, (a, _) in _basic_logins.items() if a.id == actor_id]:
        _basic_logins.pop(key, None)


async def actor_from_basic(conn, email: str, password: str) -> Actor | None:
    """Checks the password (argon2) and remembers a success (see `remembered_basic`)."""
    from db import users as users_db

    actor = await actor_from_password(conn, email, password)
    if actor is not None:
        row = await users_db.get_user(conn, actor.id)
        if row is not None:
            _basic_logins[_basic_key(email, password)] = (actor, row["password_hash"])
    return actor


# App-user tokens arrive with every submission; their actor is cached for FIELD_KEY_TTL
# seconds. Revoking or (un)assigning forgets it at once in this process (`forget_field_key`);
# other processes see the change within the TTL. Unknown tokens are never cached.
FIELD_KEY_TTL = 2.0
_field_keys: TTLCache[str, Actor] = TTLCache(maxsize=10_000, ttl=FIELD_KEY_TTL,
                                              timer=time.monotonic)


def forget_field_key(actor_id: int) -> None:
    for token in [t for t, a in _field_keys.items() if a.id == actor_id]:
        _field_keys.pop(token, None)


def public_link_actor(row) -> Actor:
    return Actor(
        id=row["id"],
        type="public_link",
        display_name=row["display_name"],
        field_key_project=row["project_id"],
        form_ids=frozenset({row["form_id"]}),
        once=row["once"],
    )


async def actor_from_field_key(conn, token: str) -> Actor | None:
    """The app user or the live public link (Central accepts both in /v1/key/{token}/)."""
    from db import public_links as links_db
    from db import users as users_db

    cached = _field_keys.get(token)
    if cached is not None:
        return cached
    row = await users_db.get_field_key_by_token(conn, token)
    if row is not None:
        actor = Actor(
            id=row["id"],
            type="field_key",
            display_name=row["display_name"],
            field_key_project=row["project_id"],
            form_ids=frozenset(row["form_ids"]),
            centre=row["centre"],
        )
    else:
        link = await links_db.get_public_link_by_token(conn, token)
        if link is None or link["revoked_at"] is not None:
            _field_keys.pop(token, None)
            return None
        actor = public_link_actor(link)
    _field_keys[token] = actor
    return actor


# --- failed logins: one throttle for every way in ---------------------------------------------
# The pages (/login), REST (POST /v1/sessions), HTTP Basic (REST and OpenRosa) and Digest
# (Collect) count their failures in the audit log (`user.session.failed`, acted on the email
# given, with the caller's address and the way it came), so every server process and every way
# in sees the same counts (Settings: login_window_seconds 900, login_account_limit 5,
# login_account_total_limit 100, login_address_limit 20). As OWASP's authentication guidance
# has it, by account and address together, so that guessing from elsewhere does not lock the
# owner out:
# - an account and an address: that many failures to the account from the address within the
#   window stop that address for that account (the right password does not help meanwhile);
# - an account from everywhere: that many failures (a guess spread over addresses) stop it for
#   every address except those it logged in from in the last KNOWN_DAYS days (its owner's);
# - an address: that many failures within the window (any accounts) stop that address. Behind a
#   proxy, the address is the client's only with `serve --forwarded-allow-ips`.
# A refused attempt is answered 429 with Retry-After before the password is checked (no argon2
# work for it) and is not counted again, so a lock ends a window after the last failure.

KNOWN_DAYS = 90  # an address the account logged in from this recently is its owner's


def normal_login(email: str) -> str:
    """The email a login names, as failures are counted under it: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", email or "").strip().lower()


async def record_failure(conn, email: str, ip: str | None, via: str) -> None:
    """A failed login (`via`: page, rest, basic, digest), counted by `check_throttle`."""
    async with conn.transaction():
        await audits.log_audit(conn, None, "user.session.failed", normal_login(email),
                               {"ip": ip, "via": via})


def _retry_after(oldest: datetime | None, now: datetime, window: int) -> int:
    if oldest is None:
        return window
    left = (oldest + timedelta(seconds=window) - now).total_seconds()
    return max(1, math.ceil(left))


async def check_throttle(conn, email: str, ip: str | None, settings) -> None:
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


async def basic_login(conn, email: str, password: str, ip: str | None, settings, *,
                      openrosa: bool = False) -> Actor:
    """HTTP Basic (REST and OpenRosa over HTTPS): the actor, or auth-failed (401) counted as a
    failed login, or login-throttled (429). A success is remembered for a few seconds
    (`remembered_basic`, checked against the account's current password).
    A password alone is not enough on REST for an account with two-factor login (or one
    FIELDSURVEY_REQUIRE_2FA requires it of): it logs in with POST /v1/sessions and its code.
    Collect's OpenRosa routes (`openrosa`) are for collectors and are not concerned."""
    actor = await remembered_basic(conn, email, password)
    if actor is None:
        await check_throttle(conn, email, ip, settings)
        actor = await actor_from_basic(conn, email, password)
        if actor is None:
            await record_failure(conn, email, ip, "basic")
            raise Problem("auth-failed")
    if not openrosa:
        if await two_factor_db.is_enrolled(conn, actor.id):
            raise Problem("second-factor-required", N_(
                "This account uses two-factor login: HTTP Basic is not accepted for it. Log in "
                "with POST /v1/sessions giving the code, and send the Bearer token."))
        if second_factor_required(actor, settings.require_2fa):
            raise Problem("second-factor-setup-required")
    return actor



async def resolve_actor(conn, headers, path_params, *, https: bool, ip: str | None,
                        settings, openrosa: bool = False) -> Actor | None:
    """The actor of a REST request: an app-user token in the path, a Bearer session token,
    or HTTP Basic email:password over HTTPS (as ODK Central accepts; throttled and counted as
    the other logins). None when anonymous; a problem when credentials were given but are
    wrong."""
    key = path_params.get("key_token")
    if key is not None:
        actor = await actor_from_field_key(conn, key)
        if actor is None:
            raise Problem("session-invalid", N_("The app user token is unknown or was revoked."))
        return actor
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        actor = await actor_from_session(conn, header[7:].strip())
        if actor is None:
            raise Problem("session-invalid")
        return actor
    basic = parse_basic_auth(header) if header else None
    if basic is not None:
        if not https:
            raise Problem(
                "auth-required",
                "HTTP Basic authentication is only accepted over HTTPS; log in with "
                "POST /v1/sessions and send the Bearer token.",
            )
        return await basic_login(conn, *basic, ip, settings, openrosa=openrosa)
    return None


# ---------------------------------------------------------------------------------------------
# Digest (RFC 7616), as ODK Collect logs in on OpenRosa routes; Basic over HTTPS and Bearer too

NONCE_TTL = 300
_DIGEST_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def _nonce_secret(request: Request) -> bytes:
    """Shared by every worker process (db/migrations/0005), loaded in the app's lifespan."""
    return request.app.state.digest_secret


def make_nonce(secret: bytes, now: float | None = None) -> str:
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(f"{stamp}:{mac}".encode()).decode().rstrip("=")


def nonce_state(secret: bytes, nonce: str) -> str:
    """'ok', 'stale' (ours but too old) or 'invalid'."""
    try:
        padded = nonce + "=" * (-len(nonce) % 4)
        stamp, mac = base64.urlsafe_b64decode(padded).decode().split(":", 1)
        expected = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    except (ValueError, UnicodeDecodeError):
        return "invalid"
    if not hmac.compare_digest(mac, expected):
        return "invalid"
    return "ok" if time.time() - int(stamp) <= NONCE_TTL else "stale"


def challenge_headers(request: Request, *, stale: bool = False) -> dict[str, str]:
    digest = (
        f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm=MD5, '
        f'nonce="{make_nonce(_nonce_secret(request))}"' + (", stale=true" if stale else "")
    )
    # One WWW-Authenticate header per scheme would be ideal; Litestar headers are a mapping,
    # so the schemes are joined in one field as RFC 9110 allows.
    if is_https(request):
        return {"WWW-Authenticate": f'{digest}, Basic realm="{DIGEST_REALM}", charset="UTF-8"'}
    return {"WWW-Authenticate": digest}


def parse_digest(header: str) -> dict[str, str]:
    params = {}
    for match in _DIGEST_PARAM.finditer(header[len("digest ") :]):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = value.replace('\\"', '"')
    return params


def _request_uri(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


_MAX_NONCE_COUNT = 0xFFFFFFFF  # nc is 8 hex digits (RFC 7616)
_nonce_uses = itertools.count()


async def _fresh_count(conn, nonce: str, nc: str) -> bool:
    """Accept each (nonce, nc) once, in the database that every worker process shares: a
    Digest header cannot be replayed on another worker. Counts older than a nonce's life are
    deleted every 1,000 logins."""
    try:
        count = int(nc, 16)
    except ValueError:
        return False
    if not 0 < count <= _MAX_NONCE_COUNT or len(nonce) > 200:
        return False
    if next(_nonce_uses) % 1000 == 0:
        await nonces_db.delete_old(conn, NONCE_TTL)
    return await nonces_db.accept_count(conn, nonce, count)


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _digest_actor(conn, request: Request, header: str) -> Actor:
    """RFC 7616 Digest (MD5, qop=auth), as ODK Collect answers the challenge. The header must
    name this request's URI, and each (nonce, nc) is accepted once."""
    params = parse_digest(header)
    required = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
    if (
        any(k not in params for k in required)
        or params["realm"] != DIGEST_REALM
        or params["qop"] != "auth"
    ):
        raise Problem("auth-required", headers=challenge_headers(request))
    state = nonce_state(_nonce_secret(request), params["nonce"])
    if state != "ok":
        raise Problem("auth-required", headers=challenge_headers(request, stale=state == "stale"))
    if params["uri"] != _request_uri(request):  # exactly this request's target
        raise Problem(
            "auth-failed", N_("The Digest header is for another address."),
            headers=challenge_headers(request),
        )
    # a Digest guess is a failed login like any other: the same throttle, the same count
    ip, settings = _client_address(request), request.app.state.settings
    await check_throttle(conn, params["username"], ip, settings)
    row = await users_db.get_user_by_email(conn, params["username"])
    ha1 = row["digest_ha1"] if row is not None else None
    ha2 = hashlib.md5(f"{request.method}:{params['uri']}".encode()).hexdigest()
    material = f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}"
    expected = hashlib.md5(material.encode()).hexdigest()
    if ha1 is None or not hmac.compare_digest(expected, params["response"].lower()):
        await record_failure(conn, params["username"], ip, "digest")
        raise Problem(
            "auth-failed",
            N_("Wrong username or password (the username is the email address, in lower case)."),
            headers=challenge_headers(request),
        )
    if not await _fresh_count(conn, params["nonce"], params["nc"]):
        raise Problem("auth-required", headers=challenge_headers(request, stale=True))
    return await actor_from_user_row(conn, row)


async def openrosa_actor(conn, request: Request) -> Actor:
    """Authenticate an OpenRosa request, or raise a 401 with the challenge Collect answers."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("digest "):
        return await _digest_actor(conn, request, header)
    if header.lower().startswith("basic ") and not is_https(request):
        raise Problem(
            "auth-required",
            N_("Basic authentication is only accepted over HTTPS; use Digest."),
            headers=challenge_headers(request),
        )
    actor = await resolve_actor(
        conn, request.headers, request.path_params, https=is_https(request),
        ip=_client_address(request), settings=request.app.state.settings, openrosa=True,
    )
    if actor is None:
        raise Problem("auth-required", headers=challenge_headers(request))
    return actor

"""Signing in and out, choosing the language, the user's own settings: /login (and its second
factor: /login/code, /login/setup), /logout, /language, /account (language and time zone,
api/services/users.py set_preferences; two-factor login, api/services/two_factor.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import asyncpg
from babel.dates import get_timezone, get_timezone_gmt, get_timezone_location
from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.auth import Actor, token_hash
from api.i18n import (
    DEFAULT_TIME_ZONE,
    LANGUAGE_NAMES,
    LOCALE_COOKIE,
    LOCALES,
    N_,
    I18n,
    known_locale,
)
from api.pages.web import (
    SESSION_COOKIE,
    Page,
    PageForbidden,
    cookies_secure,
    request_i18n,
    safe_next,
)
from api.problems import Problem
from api.services import alerts as alerts_service
from api.services import two_factor
from api.services import users as users_service
from api.services.sessions import check_password, start_session
from api.settings import Settings
from db import users as users_db

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


CHALLENGE_COOKIE = "fieldsurvey_login"  # a login waiting for its second factor (/login/...)


def _ip(page: Page) -> str | None:
    return page.request.client.host if page.request.client else None


def _target(page: Page, value: str | None) -> str:
    target = safe_next(value)
    return "/dashboard" if target.startswith(("/login", "/logout", "/language")) else target


def _refused(page: Page, template: str, problem: Problem, **context) -> Response:
    """A login step refused: the page again with what went wrong, 401 (429 with Retry-After
    when throttled)."""
    if problem.slug == "login-throttled":
        wait = int(problem.headers["Retry-After"])
        return page.render(
            template, status=429, headers={"Retry-After": str(wait)}, **context,
            error=page.i18n.ngettext(
                "Too many failed logins. Try again in %(num)s minute.",
                "Too many failed logins. Try again in %(num)s minutes.", max(1, -(-wait // 60))),
        )
    if problem.slug == "auth-failed":
        message = page._("The email address or password is wrong.")
    elif problem.slug == "second-factor-failed":
        message = page._("The code is wrong, expired or already used. Type the code your app "
                         "shows now.")
    else:
        message = page.problem_message(problem)
    return page.render(template, status=problem.status, error=message, **context)


async def _logged_in(page: Page, conn: asyncpg.Connection, settings: Settings, actor: Actor,
                     factor: str | None = None, *,
                     respond: Callable[[], Response]) -> Response:
    """A new session: `respond()` (rendered with the new CSRF token) with the session's cookie,
    the new CSRF cookie and the user's language."""
    session = await start_session(conn, actor, _ip(page), settings, factor)
    csrf = page.rotate_csrf_token()
    response = respond()
    page.set_session_cookie(response, session.token, max_age=settings.session_hours * 3600)
    page.set_csrf_cookie(response, csrf)
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    await remember_login_language(page, conn, actor, response)
    return response


async def remember_login_language(page: Page, conn: asyncpg.Connection, actor, response) -> None:
    """A language chosen with the switcher before login (the cookie, which logout clears) is
    saved to the account, so that the choice survives login; without one the account's own
    language stays. The cookie then holds the account's language, for the pages rendered
    before we know the user (error pages)."""
    chosen = known_locale(page.request.cookies.get(LOCALE_COOKIE))
    if chosen and chosen != actor.locale:
        await users_db.set_preferences(conn, actor.id, chosen, actor.time_zone)
    locale = chosen or actor.locale
    if locale:
        page.set_locale_cookie(response, locale)


@get("/login", include_in_schema=False)
async def login_page(page: Page) -> Response:
    target = safe_next(page.request.query_params.get("next"))
    return page.render("login.html", next="/dashboard" if target.startswith("/login") else target,
                       error=None)


@post("/login", include_in_schema=False)
async def login_submit(
    page: Page, conn: asyncpg.Connection, settings: Settings, data: dict[str, str] = FORM
) -> Response:
    target = _target(page, data.get("next"))
    try:
        actor = await check_password(conn, data.get("email", ""), data.get("password", ""),
                                     _ip(page), settings, via="page")
    except Problem as problem:
        return _refused(page, "login.html", problem, next=target)
    step = await two_factor.login_step(conn, actor, settings)
    if step is None:
        return await _logged_in(page, conn, settings, actor,
                                respond=lambda: page.redirect(target))
    # the password was right: the second factor next, on a page of its own
    token = await two_factor.create_challenge(conn, actor, step)
    where = "/login/code" if step == "code" else "/login/setup"
    response = page.redirect(f"{where}?next={quote(target, safe='')}")
    response.set_cookie(
        CHALLENGE_COOKIE, token, max_age=two_factor.CHALLENGE_MINUTES * 60, path="/login",
        httponly=True, samesite="lax", secure=cookies_secure(page.request, settings),
    )
    return response


async def _challenge(page: Page, conn: asyncpg.Connection, purpose: str) -> Actor | None:
    found = await two_factor.challenge_actor(conn, page.request.cookies.get(CHALLENGE_COOKIE))
    if found is None or found[1] != purpose:
        return None
    return found[0]


def _expired(page: Page, target: str) -> Response:
    """The login waited too long (or its page was opened without one): log in again."""
    response = page.render("login.html", status=401, next=target,
                           error=page._("The login took too long. Log in again."))
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    return response


@get("/login/code", include_in_schema=False)
async def login_code_page(page: Page, conn: asyncpg.Connection) -> Response:
    target = _target(page, page.request.query_params.get("next"))
    if await _challenge(page, conn, "code") is None:
        return page.redirect(f"/login?next={quote(target, safe='')}")
    return page.render("login_code.html", next=target, error=None)


@post("/login/code", include_in_schema=False)
async def login_code_submit(
    page: Page, conn: asyncpg.Connection, settings: Settings, data: dict[str, str] = FORM
) -> Response:
    target = _target(page, data.get("next"))
    actor = await _challenge(page, conn, "code")
    if actor is None:
        return _expired(page, target)
    try:
        factor = await two_factor.check_code(conn, actor, data.get("code"), _ip(page), settings,
                                             "page")
    except Problem as problem:
        return _refused(page, "login_code.html", problem, next=target)
    if not await two_factor.end_challenge(conn, page.request.cookies[CHALLENGE_COOKIE]):
        return _expired(page, target)  # the same login finished in another tab meanwhile
    return await _logged_in(page, conn, settings, actor, factor,
                            respond=lambda: page.redirect(target))


def _setup_page(page: Page, actor: Actor, secret: str, action: str, *, status: int = 200,
                error: str | None = None, target: str | None = None,
                required: bool = False) -> Response:
    return page.render(
        "two_factor_setup.html", status=status, error=error, action=action, next=target,
        required=required, qr=two_factor.qr_data_uri(secret, actor.email or ""),
        key=two_factor.grouped(secret),
    )


@get("/login/setup", include_in_schema=False)
async def login_setup_page(page: Page, conn: asyncpg.Connection) -> Response:
    target = _target(page, page.request.query_params.get("next"))
    actor = await _challenge(page, conn, "enrol")
    secret = await two_factor.start_enrolment(conn, actor) if actor is not None else None
    if secret is None:
        return page.redirect(f"/login?next={quote(target, safe='')}")
    return _setup_page(page, actor, secret, "/login/setup", target=target, required=True)


@post("/login/setup", include_in_schema=False)
async def login_setup_submit(
    page: Page, conn: asyncpg.Connection, settings: Settings, data: dict[str, str] = FORM
) -> Response:
    target = _target(page, data.get("next"))
    actor = await _challenge(page, conn, "enrol")
    if actor is None:
        return _expired(page, target)
    try:
        codes = await two_factor.confirm_enrolment(conn, actor, data.get("code"), _ip(page),
                                                   settings, "page")
    except Problem as problem:
        secret = await two_factor.start_enrolment(conn, actor)
        if secret is None or problem.slug == "login-throttled":
            return _refused(page, "login.html", problem, next=target)
        return _setup_page(page, actor, secret, "/login/setup", status=problem.status,
                           error=_refused_text(page, problem), target=target, required=True)
    if not await two_factor.end_challenge(conn, page.request.cookies[CHALLENGE_COOKIE]):
        return _expired(page, target)
    page.actor = actor
    page.i18n = request_i18n(page.request, actor)
    return await _logged_in(page, conn, settings, actor, "totp",
                            respond=lambda: _codes_page(page, codes, target))


def _refused_text(page: Page, problem: Problem) -> str:
    if problem.slug == "second-factor-failed":
        return page._("The code is wrong, expired or already used. Type the code your app "
                      "shows now.")
    return page.problem_message(problem)


def _codes_page(page: Page, codes: list[str], target: str) -> Response:
    """The recovery codes, shown this once."""
    return page.render("two_factor_codes.html", codes=codes, next=target)


@post("/logout", include_in_schema=False)
async def logout(page: Page, conn: asyncpg.Connection) -> Response:
    token = page.request.cookies.get(SESSION_COOKIE)
    if token:
        await users_db.delete_session(conn, token_hash(token))
    response = page.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    # the next person on this browser starts from their browser's language, and only a choice
    # they make with the switcher is saved to their account (remember_login_language)
    response.delete_cookie(LOCALE_COOKIE, path="/")
    return response


@post("/language", include_in_schema=False)
async def choose_language(page: Page, conn: asyncpg.Connection, data: dict[str, str] = FORM) -> Response:
    """The language switcher (a plain form on every page): remembered in a cookie, and for a
    signed-in user in their account."""
    locale = known_locale(data.get("locale"))
    target = safe_next(data.get("next"), default="/dashboard" if page.actor else "/login")
    response = page.redirect(target)
    if locale is None:
        return response
    page.set_locale_cookie(response, locale)
    if page.actor is not None:
        await users_db.set_preferences(conn, page.actor.id, locale, page.actor.time_zone)
    page.i18n = I18n.for_locale(locale)
    return response


UNIVERSAL_TIME = N_("Universal time")  # Babel names the UTC zone "UTC" in every language


def zone_choices(i18n: I18n) -> list[tuple[str, str]]:
    """(IANA name, "Dushanbe (GMT+05:00)" in the page's language) of the zones one may choose."""
    now = datetime.now(UTC)
    out = []
    for name in users_service.TIME_ZONES:
        tz = get_timezone(name)
        city = i18n.gettext(UNIVERSAL_TIME) if name == "UTC" else get_timezone_location(
            tz, locale=i18n.locale, return_city=True)
        out.append((name, f"{city} ({get_timezone_gmt(now.astimezone(tz), locale=i18n.locale)})"))
    return out


ALERT_CHANNELS = (("app", N_("In the app")), ("email", N_("By email")))


def _chosen_alerts(data: dict[str, str]) -> dict[str, dict[str, bool]]:
    """The alert checkboxes of the form (`alert-KIND-CHANNEL`): one not sent is off."""
    return {kind: {channel: data.get(f"alert-{kind}-{channel}") == "on"
                   for channel, _ in ALERT_CHANNELS}
            for kind in alerts_service.ALERT_KINDS}


async def _account_page(page: Page, conn: asyncpg.Connection, settings: Settings, *,
                        status: int = 200, saved: str | None = None,
                        error: str | None = None) -> Response:
    context = await _account_context(page, conn, settings)
    context["saved"] = saved
    return page.render("account.html", status=status, error=error, **context)


def _user_page_actor(page: Page) -> Actor:
    actor = page.require_login()
    if actor.type != "user":
        raise PageForbidden()
    return actor


@get("/account", include_in_schema=False)
async def account_page(page: Page, conn: asyncpg.Connection, settings: Settings) -> Response:
    _user_page_actor(page)
    saved = page.request.query_params.get("saved")
    return await _account_page(page, conn, settings,
                               saved=saved if saved in ("1", "2fa-off") else None)


@post("/account", include_in_schema=False)
async def account_save(page: Page, conn: asyncpg.Connection, settings: Settings,
                       data: dict[str, str] = FORM) -> Response:
    actor = page.require_login()
    try:
        await users_service.set_preferences(conn, actor, data.get("locale") or None,
                                            data.get("time_zone") or None)
    except Problem as problem:
        if problem.status == 403:
            raise PageForbidden() from problem
        return await _account_page(page, conn, settings, status=400,
                                   error=page.problem_message(problem))
    if data.get("alerts-shown") == "1":  # the form with the alert choices (not an older one)
        await alerts_service.set_preferences(conn, actor, _chosen_alerts(data))
    response = page.redirect("/account?saved=1")
    if data.get("locale"):
        page.set_locale_cookie(response, data["locale"])
    return response


# --- two-factor login on the account page (api/services/two_factor.py) ------------------------


@get("/account/two-factor", include_in_schema=False)
async def two_factor_setup_page(page: Page, conn: asyncpg.Connection) -> Response:
    """Setting up two-factor login: the QR code and the key, and the first code to confirm."""
    actor = _user_page_actor(page)
    secret = await two_factor.start_enrolment(conn, actor)
    if secret is None:  # on already
        return page.redirect("/account")
    return _setup_page(page, actor, secret, "/account/two-factor")


@post("/account/two-factor", include_in_schema=False)
async def two_factor_setup_submit(page: Page, conn: asyncpg.Connection, settings: Settings,
                                  data: dict[str, str] = FORM) -> Response:
    actor = _user_page_actor(page)
    try:
        codes = await two_factor.confirm_enrolment(conn, actor, data.get("code"), _ip(page),
                                                   settings, "page")
    except Problem as problem:
        secret = await two_factor.start_enrolment(conn, actor)
        if secret is None:
            return page.redirect("/account")
        if problem.slug == "login-throttled":
            return _refused(page, "account.html", problem, **await _account_context(
                page, conn, settings))
        return _setup_page(page, actor, secret, "/account/two-factor", status=problem.status,
                           error=_refused_text(page, problem))
    return _codes_page(page, codes, "/account")


async def _account_context(page: Page, conn: asyncpg.Connection, settings: Settings) -> dict:
    actor = page.actor
    return dict(
        saved=None, languages=[(code, LANGUAGE_NAMES[code]) for code in LOCALES],
        chosen_locale=actor.locale or page.i18n.locale,
        zones=zone_choices(page.i18n), chosen_zone=actor.time_zone or DEFAULT_TIME_ZONE,
        now=datetime.now(UTC), two_factor=await two_factor.state_of(conn, actor, settings),
        alert_kinds=[(k.name, k.label) for k in alerts_service.ALERT_KINDS.values()],
        alert_channels=ALERT_CHANNELS,
        alert_choices=await alerts_service.get_preferences(conn, actor),
    )


@post("/account/two-factor/disable", include_in_schema=False)
async def two_factor_disable(page: Page, conn: asyncpg.Connection, settings: Settings,
                             data: dict[str, str] = FORM) -> Response:
    actor = _user_page_actor(page)
    try:
        await two_factor.disable(conn, actor, data.get("code"), _ip(page), settings)
    except Problem as problem:
        return _refused(page, "account.html", problem,
                        **await _account_context(page, conn, settings))
    return page.redirect("/account?saved=2fa-off")


@post("/account/two-factor/recovery-codes", include_in_schema=False)
async def two_factor_new_codes(page: Page, conn: asyncpg.Connection, settings: Settings,
                               data: dict[str, str] = FORM) -> Response:
    actor = _user_page_actor(page)
    try:
        codes = await two_factor.new_recovery_codes_for(conn, actor, data.get("code"), _ip(page),
                                                        settings)
    except Problem as problem:
        return _refused(page, "account.html", problem,
                        **await _account_context(page, conn, settings))
    return _codes_page(page, codes, "/account")


ROUTES = [login_page, login_submit, login_code_page, login_code_submit, login_setup_page,
          login_setup_submit, logout, choose_language, account_page, account_save,
          two_factor_setup_page, two_factor_setup_submit, two_factor_disable,
          two_factor_new_codes]

"""Signing in and out, choosing the language, the user's own settings: /login, /logout,
/language, /account (language and time zone, api/services/users.py set_preferences)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from babel.dates import get_timezone, get_timezone_gmt, get_timezone_location
from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.auth import token_hash
from api.i18n import (
    DEFAULT_TIME_ZONE,
    LANGUAGE_NAMES,
    LOCALE_COOKIE,
    LOCALES,
    N_,
    I18n,
    known_locale,
)
from api.pages.web import SESSION_COOKIE, Page, PageForbidden, safe_next
from api.problems import Problem
from api.services import alerts as alerts_service
from api.services import users as users_service
from api.services.sessions import password_login
from api.settings import Settings
from db import users as users_db

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


@get("/login", include_in_schema=False)
async def login_page(page: Page) -> Response:
    target = safe_next(page.request.query_params.get("next"))
    return page.render("login.html", next="/dashboard" if target.startswith("/login") else target,
                       error=None)


@post("/login", include_in_schema=False)
async def login_submit(
    page: Page, conn: asyncpg.Connection, settings: Settings, data: dict[str, str] = FORM
) -> Response:
    target = safe_next(data.get("next"))
    if target.startswith(("/login", "/logout", "/language")):
        target = "/dashboard"
    ip = page.request.client.host if page.request.client else None
    try:
        session = await password_login(conn, data.get("email", ""), data.get("password", ""), ip,
                                       settings, via="page")
    except Problem as problem:
        if problem.slug != "login-throttled":
            return page.render("login.html", status=401, next=target,
                               error=page._("The email address or password is wrong."))
        wait = int(problem.headers["Retry-After"])
        return page.render(
            "login.html", status=429, next=target, headers={"Retry-After": str(wait)},
            error=page.i18n.ngettext(
                "Too many failed logins. Try again in %(num)s minute.",
                "Too many failed logins. Try again in %(num)s minutes.", max(1, -(-wait // 60))),
        )
    actor, token = session.actor, session.token
    response = page.redirect(target)
    page.set_session_cookie(response, token, max_age=settings.session_hours * 3600)
    page.rotate_csrf_cookie(response)
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


async def _account_page(page: Page, conn: asyncpg.Connection, *, status: int = 200,
                        saved: bool = False, error: str | None = None) -> Response:
    actor = page.actor
    chosen = await alerts_service.get_preferences(conn, actor)
    return page.render(
        "account.html", status=status, saved=saved, error=error,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LOCALES],
        chosen_locale=actor.locale or page.i18n.locale,
        zones=zone_choices(page.i18n), chosen_zone=actor.time_zone or DEFAULT_TIME_ZONE,
        now=datetime.now(UTC),
        alert_kinds=[(k.name, k.label) for k in alerts_service.ALERT_KINDS.values()],
        alert_channels=ALERT_CHANNELS, alert_choices=chosen,
    )


@get("/account", include_in_schema=False)
async def account_page(page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require_login()
    if actor.type != "user":
        raise PageForbidden()
    return await _account_page(page, conn, saved=page.request.query_params.get("saved") == "1")


@post("/account", include_in_schema=False)
async def account_save(page: Page, conn: asyncpg.Connection, data: dict[str, str] = FORM) -> Response:
    actor = page.require_login()
    try:
        await users_service.set_preferences(conn, actor, data.get("locale") or None,
                                            data.get("time_zone") or None)
    except Problem as problem:
        if problem.status == 403:
            raise PageForbidden() from problem
        return await _account_page(page, conn, status=400,
                                   error=page.problem_message(problem))
    if data.get("alerts-shown") == "1":  # the form with the alert choices (not an older one)
        await alerts_service.set_preferences(conn, actor, _chosen_alerts(data))
    response = page.redirect("/account?saved=1")
    if data.get("locale"):
        page.set_locale_cookie(response, data["locale"])
    return response


ROUTES = [login_page, login_submit, logout, choose_language, account_page, account_save]

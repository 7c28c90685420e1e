"""Signing in and out, and choosing the language: /login, /logout, /language."""

from __future__ import annotations

import asyncpg
from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.auth import token_hash
from api.i18n import LOCALE_COOKIE, I18n, known_locale
from api.pages.web import SESSION_COOKIE, Page, safe_next
from api.problems import Problem
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
                                       settings)
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
    if actor.locale:  # the user's own language, for the pages rendered before we know them
        page.set_locale_cookie(response, actor.locale)
    elif page.request.cookies.get(LOCALE_COOKIE):  # chosen before login: remember it
        chosen = known_locale(page.request.cookies.get(LOCALE_COOKIE))
        if chosen:
            await users_db.set_preferences(conn, actor.id, chosen, actor.time_zone)
    return response


@post("/logout", include_in_schema=False)
async def logout(page: Page, conn: asyncpg.Connection) -> Response:
    token = page.request.cookies.get(SESSION_COOKIE)
    if token:
        await users_db.delete_session(conn, token_hash(token))
    response = page.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
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


ROUTES = [login_page, login_submit, logout, choose_language]

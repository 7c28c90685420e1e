"""What every page shares: the signed-in user, the request's language, rendering with the base
layout, the navigation, CSRF, security headers, and the 403/404/error pages.

A handler takes `page: Page` (a dependency of the pages router) and asks it:

    actor = page.require("summary.read", project_id)   # 303 to /login, or the 403 page
    return page.render("summaries.html", project=project, tables=tables)

Permissions are api/auth.py's (`Actor.can`); a page never decides a rule of its own.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException
from litestar.middleware.csrf import CSRFMiddleware, generate_csrf_token
from litestar.response import Redirect
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

from api.auth import Actor, actor_from_session
from api.http import is_https
from api.i18n import LANGUAGE_NAMES, LOCALE_COOKIE, LOCALES, N_, I18n, negotiate_locale
from api.settings import Settings

# Labels of codes every page shows (translated when shown), under the pages' names
from forms.vocabulary import REVIEW_STATE_LABELS as REVIEW_STATES
from forms.vocabulary import RISK_LEVEL_LABELS as RISK_LEVELS

log = logging.getLogger("fieldsurvey.pages")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "fieldsurvey_session"
CSRF_COOKIE = "fieldsurvey_csrf"
CSRF_FIELD = "_csrf_token"  # the form field Litestar's CSRF middleware reads
CSRF_HEADER = "x-csrftoken"  # the header htmx sends (hx-headers on <body>)
LOCALE_COOKIE_AGE = 365 * 24 * 3600

# No inline script or style anywhere on the pages: scripts and styles come from /static. Images
# may be data: URIs (QR codes). A page that needs more passes its own `csp` to render().
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# --- templates -----------------------------------------------------------------------------

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
# {% trans %} and _() call the request's translator (passed in the context, not installed
# globally: requests in different languages render at the same time). New-style gettext:
# variables are given by name and escaped, e.g. _("%(n)s persons", n=count).
templates.newstyle_gettext = True  # type: ignore[attr-defined]


def _escaped(ctx, text: str, variables: dict) -> str:
    if ctx.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables


def _template_gettext(i18n: I18n) -> Callable:
    @pass_context
    def gettext(ctx, message: str, **variables):
        return _escaped(ctx, i18n.catalogue.gettext(message), variables)

    return gettext


def _template_ngettext(i18n: I18n) -> Callable:
    @pass_context
    def ngettext(ctx, singular: str, plural: str, n: int, **variables):
        variables.setdefault("num", n)
        return _escaped(ctx, i18n.catalogue.ngettext(singular, plural, n), variables)

    return ngettext


def _template_pgettext(i18n: I18n) -> Callable:
    @pass_context
    def pgettext(ctx, context: str, message: str, **variables):
        return _escaped(ctx, i18n.catalogue.pgettext(context, message), variables)

    return pgettext




@pass_context
def _filter_datetime(ctx, value, format: str = "standard"):
    return ctx["i18n"].datetime(value, format)


@pass_context
def _filter_date(ctx, value, format: str = "medium"):
    return ctx["i18n"].date(value, format)


@pass_context
def _filter_number(ctx, value):
    return ctx["i18n"].number(value)


@pass_context
def _filter_review_state(ctx, value):
    return ctx["i18n"].gettext(REVIEW_STATES.get(value or "received", value or ""))


@pass_context
def _filter_risk_level(ctx, value):
    return ctx["i18n"].gettext(RISK_LEVELS[value]) if value in RISK_LEVELS else (value or "—")


# {{ ts|datetime }}, {{ d|date }}, {{ n|number }}: Babel, in the user's language and time zone.
templates.filters.update(
    datetime=_filter_datetime, date=_filter_date, number=_filter_number,
    review_state=_filter_review_state, risk_level=_filter_risk_level,
)


# --- navigation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    """One link of the navigation. `permission` is asked of api/auth.py (`actor.can`): with
    scope "project" in the project the page is about, with scope "global" without a project
    (which only an administrator passes). permission None: every signed-in user."""

    key: str
    label: str  # marked with N_(), translated when shown
    href: str  # may contain {project_id}
    permission: str | None
    scope: str = "project"  # "project" | "global"
    order: int = 100


NAV: list[NavItem] = []


def add_nav(item: NavItem) -> NavItem:
    """Adds a link to the navigation (call it at import time of your page module)."""
    NAV[:] = sorted([*(i for i in NAV if i.key != item.key), item], key=lambda i: (i.order, i.key))
    return item


add_nav(NavItem("projects", N_("Projects"), "/dashboard", None, scope="global", order=0))


def navigation(actor: Actor | None, project_id: int | None, i18n: I18n) -> dict[str, list[dict]]:
    """The links the actor's roles allow: global ones, and those of the current project."""
    if actor is None:
        return {"global": [], "project": []}
    out: dict[str, list[dict]] = {"global": [], "project": []}
    for item in NAV:
        if item.scope == "global":
            allowed = item.permission is None or actor.can(item.permission)
        elif project_id is None:
            continue
        else:
            allowed = item.permission is None or actor.can(item.permission, project_id)
        if allowed:
            out[item.scope].append({
                "key": item.key,
                "label": i18n.gettext(item.label),
                "href": item.href.format(project_id=project_id),
            })
    return out


# --- the page of a request -----------------------------------------------------------------


class LoginRequired(Exception):
    """Raised by Page.require_login: the handler answers with a redirect to /login."""


class PageForbidden(Exception):
    """The 403 page: the actor's roles do not allow this page (`detail`: a translated line)."""

    def __init__(self, detail: str | None = None):
        super().__init__(detail)
        self.detail = detail


class PageNotFound(Exception):
    """The 404 page (an unknown project, form, submission...)."""

    def __init__(self, detail: str | None = None):
        super().__init__(detail)
        self.detail = detail


def cookies_secure(request: Request, settings: Settings | None) -> bool:
    """Cookies are sent over HTTPS only when this request came over HTTPS, or when the
    server's public address is HTTPS (behind a proxy that is not trusted to say so)."""
    if is_https(request):
        return True
    return bool(settings and settings.public_url and settings.public_url.startswith("https://"))


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """A local path to go back to after login or a language change (never another site)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 32 for ch in target)
        and not target.startswith("/v1")
    ):
        return target
    return default


def csrf_token(request: Request) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


class Page:
    """The page side of a request: who is signed in, in which language, and how to answer."""

    def __init__(self, request: Request, actor: Actor | None, i18n: I18n, settings: Settings | None):
        self.request = request
        self.actor = actor
        self.i18n = i18n
        self.settings = settings
        self.unread_alerts = 0  # shown beside the link to /alerts on every page

    @property
    def _(self) -> Callable[..., str]:
        return self.i18n.gettext

    def require_login(self) -> Actor:
        if self.actor is None:
            raise LoginRequired()
        return self.actor

    def require(self, permission: str, project_id: int | None = None) -> Actor:
        """The signed-in actor when api/auth.py allows `permission` (in `project_id`), else the
        login redirect (anonymous) or the 403 page."""
        actor = self.require_login()
        if not actor.can(permission, project_id):
            raise PageForbidden()
        return actor

    def render(
        self,
        template: str,
        status: int = 200,
        *,
        project: Any = None,
        csp: str = CONTENT_SECURITY_POLICY,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        project_id = project["id"] if project is not None else None
        path = self.request.url.path
        query = self.request.url.query
        html = templates.get_template(template).render(
            actor=self.actor,
            project=project,
            nav=navigation(self.actor, project_id, self.i18n),
            i18n=self.i18n,
            locale=self.i18n.locale,
            locales=[(code, LANGUAGE_NAMES[code]) for code in LOCALES],
            here=path + (f"?{query}" if query else ""),
            unread_alerts=self.unread_alerts,
            csrf_token=csrf_token(self.request),
            csrf_field=CSRF_FIELD,
            gettext=_template_gettext(self.i18n),
            _=_template_gettext(self.i18n),
            ngettext=_template_ngettext(self.i18n),
            pgettext=_template_pgettext(self.i18n),
            **context,
        )
        return Response(
            html,
            status_code=status,
            media_type="text/html; charset=utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": csp,
                "Content-Language": self.i18n.locale,
                "Vary": "Cookie, Accept-Language",
                **(headers or {}),
            },
        )

    def problem_message(self, problem) -> str:
        """A service's Problem as a sentence in the user's language."""
        from api.i18n import problem_text

        return problem_text(problem, self.i18n)

    def redirect(self, target: str) -> Response:
        return Redirect(target, status_code=303)

    def to_login(self) -> Response:
        target = self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")
        return self.redirect(f"/login?next={quote(target, safe='')}")

    def set_session_cookie(self, response: Response, token: str, max_age: int) -> None:
        """The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS, and gone when the
        server session expires (Max-Age = the session's lifetime)."""
        response.set_cookie(
            SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="lax",
            secure=cookies_secure(self.request, self.settings),
        )

    def rotate_csrf_token(self) -> str:
        """A new CSRF token at login (as the session is new): a token planted or read before
        the login (a shared computer, a fixated cookie) is worth nothing after it. Pages
        rendered after this carry the new token; `set_csrf_cookie` gives it to the browser."""
        token = generate_csrf_token(self.request.app.state.csrf_secret)
        ScopeState.from_scope(self.request.scope).csrf_token = token
        return token

    def set_csrf_cookie(self, response: Response, token: str) -> None:
        """The CSRF cookie, with the attributes Litestar's middleware gives it (`csrf_config`)."""
        config = csrf_config(self.settings)
        response.set_cookie(
            CSRF_COOKIE, token, path=config.cookie_path, httponly=config.cookie_httponly,
            samesite=config.cookie_samesite, secure=cookies_secure(self.request, self.settings),
        )

    def set_locale_cookie(self, response: Response, locale: str) -> None:
        response.set_cookie(
            LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_AGE, path="/", httponly=True,
            samesite="lax", secure=cookies_secure(self.request, self.settings),
        )


def request_i18n(request: Request, actor: Actor | None = None) -> I18n:
    locale = negotiate_locale(
        user_choice=actor.locale if actor is not None and actor.type == "user" else None,
        cookie=request.cookies.get(LOCALE_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )
    return I18n.for_locale(locale, actor.time_zone if actor is not None else None)


async def provide_page(request: Request, conn: asyncpg.Connection, settings: Settings) -> Page:
    token = request.cookies.get(SESSION_COOKIE)
    actor = await actor_from_session(conn, token) if token else None
    if actor is not None and actor.type != "user":
        actor = None
    page = Page(request, actor, request_i18n(request, actor), settings)
    if actor is not None:
        from api.services.alerts import unread_count

        page.unread_alerts = await unread_count(conn, actor)
    request.state.page = page
    return page


def page_of(request: Request) -> Page:
    """The request's Page; for errors raised before the handler ran, one without a user."""
    page = getattr(request.state, "page", None)
    if isinstance(page, Page):
        return page
    settings = getattr(request.app.state, "settings", None)
    return Page(request, None, request_i18n(request), settings)


# --- downloads -----------------------------------------------------------------------------


def file_name(i18n: I18n, kind: str, title: str) -> str:
    """A download's name in the user's language, e.g. 'Risk screening - данные 2026-12-01.xlsx'."""
    day = datetime.now(UTC).astimezone(i18n.time_zone).date().isoformat()
    names = {
        "xlsx": i18n.gettext("%(form)s - submissions %(date)s.xlsx", form=title, date=day),
        "csv.zip": i18n.gettext("%(form)s - submissions %(date)s.csv.zip", form=title, date=day),
        "excel.csv.zip": i18n.gettext("%(form)s - submissions for Excel %(date)s.csv.zip",
                                      form=title, date=day),
        "report.xlsx": i18n.gettext("%(form)s - report %(date)s.xlsx", form=title, date=day),
        "risk.xlsx": i18n.gettext("%(project)s - risk summaries %(date)s.xlsx", project=title, date=day),
    }
    return "".join(ch if ch not in '/\\:*?"<>|' and ord(ch) >= 32 else "_" for ch in names[kind])


# --- error pages ---------------------------------------------------------------------------

ERROR_TITLES = {
    400: N_("The request could not be understood"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("This action is not possible here"),
    413: N_("The upload is too large"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
}


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    page = page_of(request)
    _ = page.i18n.gettext
    if status == 403:
        message = detail or _("Your role does not let you open this page.")
        template = "forbidden.html"
    elif status == 404:
        message = detail or _("There is no page at this address.")
        template = "not_found.html"
    else:
        message = detail
        template = "error.html"
    title = _(ERROR_TITLES.get(status, ERROR_TITLES[500 if status >= 500 else 400]))
    return page.render(template, status=status, title=title, message=message, status_code=status)


def handle_login_required(request: Request, exc: LoginRequired) -> Response:
    return page_of(request).to_login()


def handle_forbidden(request: Request, exc: PageForbidden) -> Response:
    return error_page(request, 403, exc.detail)


def handle_not_found(request: Request, exc: PageNotFound) -> Response:
    return error_page(request, 404, exc.detail)


def is_page_path(path: str) -> bool:
    """Paths that answer people (HTML), not programs: everything but the REST API and OpenRosa
    (all under /v1), the OpenAPI schema, /health and /metrics (api/app.py, api/metrics.py)."""
    return not (
        path == "/v1" or path.startswith("/v1/") or path.startswith("/schema")
        or path in ("/health", "/metrics")
    )


def wants_html(request: Request) -> bool:
    """A browser navigating (Accept names text/html), not a program."""
    return "text/html" in request.headers.get("accept", "")


def http_exception_page(request: Request, exc: HTTPException) -> Response:
    """A framework error (no route, CSRF refused, bad form body) on a page path, as a page."""
    page = page_of(request)
    _ = page.i18n.gettext
    detail = None
    if exc.status_code == 403 and "CSRF" in (exc.detail or ""):
        detail = _("This form has expired or did not come from this site. Go back, reload the "
                   "page and try again.")
    elif exc.status_code == 400:
        detail = _("Some fields of the form are missing or not valid.")
    elif exc.status_code == 413:
        detail = _("The file is larger than this server accepts.")
    response = error_page(request, exc.status_code, detail)
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


def csrf_config(settings: Settings) -> CSRFConfig:
    """Litestar's double-submit CSRF check, for the cookie-authenticated pages only (the pages
    router's middleware; the REST API and OpenRosa use bearer tokens, Basic or Digest, which a
    cross-site form cannot send). The secret here is a placeholder: `SharedSecretCSRF` uses
    the secret all servers share."""
    return CSRFConfig(
        secret=secrets.token_hex(32),
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_httponly=True,
        cookie_samesite="lax",
        cookie_secure=bool(settings.public_url and settings.public_url.startswith("https://")),
    )


class SharedSecretCSRF(CSRFMiddleware):
    """Litestar's CSRF middleware with the secret every server process shares (server_secrets
    row 'csrf', read at startup into app.state.csrf_secret), so that a form served by one app
    server or worker is accepted by another. Setting it on the CSRFConfig at startup is not
    enough: Litestar deep-copies a router when it is registered, so the middleware holds a
    copy of the config made before the database was read (each process then kept its own
    random secret and a login form posted to another server was refused with 403).
    Its cookie is Secure when the request came over HTTPS (`cookies_secure`: behind a trusted
    proxy, its X-Forwarded-Proto says so), as the session cookie is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["litestar_app"].state
        secure = scope.get("scheme") == "https" or self.config.cookie_secure
        configs = self.__dict__.setdefault("_configs", {})
        config = configs.get((state.csrf_secret, secure))
        if config is None:
            config = configs[(state.csrf_secret, secure)] = dataclasses.replace(
                self.config, secret=state.csrf_secret, cookie_secure=secure)
        # a shallow copy per request: concurrent requests never see each other's config
        handler = copy.copy(self)
        handler.config = config
        await CSRFMiddleware.__call__(handler, scope, receive, send)

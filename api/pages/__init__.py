"""The web pages: server-rendered Jinja2 with htmx, in English, Russian and Tajik.

How to add a page (webcoord, webforms, everyone):

1. A route module under api/pages/ (e.g. api/pages/forms.py) with Litestar handlers that take
   `page: Page` (api/pages/web.py) and end with `ROUTES = [handler, ...]`; add the module's
   name to PAGE_MODULES below. Ask permissions of api/auth.py through the page, never re-derive
   them:
       actor = page.require("form.update", project_id)   # anonymous: 303 /login; else 403 page
       raise PageNotFound()                               # the 404 page, translated
       return page.render("forms/list.html", project=project, forms=rows)
   Pass `project=` (a row with "id") so the navigation shows that project's links. Call the
   service functions REST uses (api/services/...), not SQL of your own for a rule.
2. A link in the navigation: `add_nav(NavItem("forms", N_("Forms"),
   "/projects/{project_id}/forms", "form.list", order=30))` at import time of your module; it
   is shown only to actors whose roles allow the permission (api/auth.py decides).
3. A template under api/pages/templates/ that `{% extends "base.html" %}` and fills
   `{% block title %}` and `{% block main %}` (scripts: `{% block scripts %}` with
   `<script src="/static/...">` only; the Content-Security-Policy forbids inline script and
   style, and on* attributes). User text is escaped by Jinja's autoescape: never `|safe` it.
4. Every visible string through the catalogue: `{% trans %}Forms{% endtrans %}`,
   `{{ _("Publish") }}`, `{{ _("%(n)s forms", n=count) }}` (new-style gettext: variables by
   name, escaped; a literal % is %%), `{% trans count=n %}...{% pluralize %}...{% endtrans %}`;
   in Python `page._("...")` / `page.i18n.gettext(...)`, and `N_("...")` (api/i18n.py) to mark
   module-level constants translated later. Dates/numbers: `i18n.datetime(ts)`, `i18n.date(d)`,
   `i18n.number(n)`, `i18n.month_name(m)` (Babel, the user's time zone, Asia/Dushanbe by
   default).
5. Forms that change anything are POST with `<input type="hidden" name="{{ csrf_field }}"
   value="{{ csrf_token }}">` (the pages router runs Litestar's CSRF middleware; htmx requests
   carry the token in a header set on <body>). Uploads: multipart works the same way. A handler
   that must not be checked (a public, cookie-less endpoint) sets opt={"exclude_from_csrf": True}.
6. `make messages` re-extracts (pybabel, api/pages/babel.cfg) and updates the three .po files;
   fill the ru and tg msgstr (marked for review by native speakers), then `make install`
   compiles them. tests/unit/test_catalogues.py fails when a string lacks a translation, and the
   page tests fail when a Russian or Tajik page shows an English sentence.

Static files: api/pages/static/ under /static/dashboard/; npm libraries (api/pages/package.json)
under /static/vendor/ (chartjs, htmx). No CDN.
"""

from __future__ import annotations

import importlib

from litestar import Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router

from api.settings import Settings

# Page modules, each with ROUTES. Add yours here.
PAGE_MODULES = (
    "api.pages.account",
    "api.pages.dashboard",
    "api.pages.admin",
    "api.pages.scopes",
    "api.pages.research",
    "api.pages.forms",
    "api.pages.app_users",
    "api.pages.submissions",
    "api.pages.cases",
    "api.pages.reading",
    "api.pages.trash",
    "api.pages.fill",
    "api.pages.alerts",
    "api.pages.webhooks",
)


def pages_router(settings: Settings, csrf) -> Router:
    """Every page handler, behind the CSRF check, with the `page` dependency."""
    from api.pages.web import (
        LoginRequired,
        PageForbidden,
        PageNotFound,
        SharedSecretCSRF,
        handle_forbidden,
        handle_login_required,
        handle_not_found,
        provide_page,
    )

    handlers = []
    for name in PAGE_MODULES:
        handlers.extend(importlib.import_module(name).ROUTES)
    return Router(
        path="/",
        route_handlers=handlers,
        dependencies={"page": Provide(provide_page)},
        middleware=[DefineMiddleware(SharedSecretCSRF, config=csrf)],
        exception_handlers={
            LoginRequired: handle_login_required,
            PageForbidden: handle_forbidden,
            PageNotFound: handle_not_found,
        },
        include_in_schema=False,
    )


def static_routers() -> list:
    """The pages' own static files and the npm libraries they use."""
    from api.pages.web import HERE

    routers = [create_static_files_router(path="/static/dashboard", directories=[HERE / "static"],
                                          include_in_schema=False)]
    vendor = {
        "chartjs": HERE / "node_modules" / "chart.js" / "dist",
        "htmx": HERE / "node_modules" / "htmx.org" / "dist",
    }
    for name, directory in vendor.items():
        if directory.is_dir():
            routers.append(create_static_files_router(
                path=f"/static/vendor/{name}", directories=[directory], include_in_schema=False))
    return routers

"""What every page shares: the language (switcher, cookie, the user's choice, Accept-Language),
the navigation by role, the 403 and 404 pages in the user's language, CSRF, cookies, the
Content-Security-Policy, escaping, and no English sentence left on a Russian or Tajik page."""

from __future__ import annotations

import functools
import html
import re
import uuid

import pytest
from babel.messages.pofile import read_po

from api.i18n import LOCALE_DIR
from tests.pages_client import anonymous, signed_in
from tests.summaries_seed import publish_now, screening_project

# Names and file types that stay as they are in every language.
SAME_IN_EVERY_LANGUAGE = {"xlsx", "csv", "zip", "CSV", "Excel", "Power", "BI", "OData", "pyodk",
                          "ruODK", "Python", "R", "ODK", "Collect", "QR", "fieldsurvey", "HTTPS"}
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, pool, settings):
    name = f"<b>Proj</b> {uuid.uuid4().hex[:6]}"  # user text: must come back escaped
    pid = await screening_project(client, admin_headers, name=name)
    users = {role: await make_user(role, pid) for role in ("manager", "ministry", "collector")}
    await publish_now(pool, settings, pid)  # an empty one: the ministry's page has its tables
    return {"pid": pid, "name": name, "users": users}


def visible_text(page: str) -> str:
    """The page's words, without scripts, code samples and codes shown as such (class mono)."""
    page = re.sub(r"<(script|style|pre|code)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r'<(\w+)[^>]*\bclass="[^"]*\bmono\b[^"]*"[^>]*>.*?</\1>', " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def _pieces(text: str) -> list[str]:
    """The literal parts of a catalogue text (placeholders and tags cut out) that are English."""
    text = re.sub(r"<[^>]+>", " ", text)
    out = []
    for part in re.split(r"%\(\w+\)[sd]", text):
        part = part.strip(" .:·-")
        words = set(re.findall(r"[A-Za-z]+", part))
        if len(part) >= 3 and re.search(r"[A-Za-z]{3}", part) and not words <= SAME_IN_EVERY_LANGUAGE:
            out.append(part)
    return out


def _within(piece: str) -> re.Pattern:
    # a whole word or phrase: not a part of a longer word, nor of a code (risk_level, DU-2026)
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(piece)}(?![A-Za-z0-9_])")


@functools.lru_cache(maxsize=4)
def english_sentences(locale: str = "ru") -> tuple[re.Pattern, ...]:
    """The English source strings' literal parts, as patterns, that a page in `locale` must not
    show. A part that the locale's own translation keeps (every message that has it keeps it:
    "UTC" in "%(time)s по UTC") is that language's text too, so it is not looked for."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    kept: dict[str, bool] = {}
    for message in catalogue:
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        translations = [message.string] if isinstance(message.string, str) else list(message.string)
        for piece in _pieces(source):
            in_translation = all(_within(piece).search(t or "") for t in translations)
            kept[piece] = kept.get(piece, True) and in_translation
    return tuple(_within(piece) for piece, keep in kept.items() if not keep)


def assert_no_english(page: str, where: str, user_text: list[str] = ()) -> None:
    """No catalogue string shown in English, in the page's own language (<html lang>); what
    users typed (names, form titles) aside."""
    found = re.search(r'<html lang="(\w+)"', page)
    locale = found.group(1) if found and found.group(1) in ("ru", "tg") else "ru"
    text = visible_text(page)
    for typed in sorted(user_text, key=len, reverse=True):  # a name inside another: longest first
        text = text.replace(typed, " ")
    for sentence in english_sentences(locale):
        assert not sentence.search(text), \
            f"{where}: English {sentence.pattern!r} left in: {text[:300]}"


def test_the_english_check_spares_what_translations_keep_and_codes() -> None:
    """The check itself: it finds a short catalogue word left in English, and it does not
    take for English what the page's language keeps ("по UTC") nor a code (total_score)."""
    def ru_page(main: str) -> str:
        return f'<html lang="ru"><body><main>{main}</main></body></html>'

    assert_no_english(ru_page("Время: 12:00 по UTC. Поле total_score, случай DU-2026-1."), "kept")
    for english in ("Apply", "Newer", "Итого: total", "Сохранено. Saved"):
        with pytest.raises(AssertionError):
            assert_no_english(ru_page(english), english)


async def test_language_comes_from_accept_language_then_cookie(client) -> None:
    visitor = await anonymous(client)
    page = await visitor.get(client, "/login", **{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert '<html lang="ru">' in page.text and "Войти" in page.text
    assert page.headers["content-language"] == "ru"
    visitor.lang = "tg"
    page = await visitor.get(client, "/login", **{"Accept-Language": "ru"})
    assert '<html lang="tg">' in page.text and "Ворид шудан" in page.text
    visitor.lang = None
    page = await visitor.get(client, "/login", **{"Accept-Language": "de, fr"})
    assert '<html lang="en">' in page.text and "Log in" in page.text


async def test_switcher_sets_the_cookie_and_the_users_choice(client, site, pool) -> None:
    visitor = await anonymous(client)
    switched = await visitor.post(client, "/language", {"locale": "tg", "next": "/login?next=%2Fdashboard"})
    assert switched.status_code == 303 and switched.headers["location"] == "/login?next=%2Fdashboard"
    assert switched.cookies.get("fieldsurvey_lang") == "tg"
    refused = await visitor.post(client, "/language", {"locale": "ru"}, csrf=False)
    assert refused.status_code == 403 and "<html" in refused.text  # a page, not JSON
    user = site["users"]["ministry"]
    browser = await signed_in(client, user["email"], user["password"])
    chosen = await browser.post(client, "/language", {"locale": "ru", "next": "https://evil.example/"})
    assert chosen.headers["location"] == "/dashboard"  # never another site
    assert await pool.fetchval("SELECT locale FROM users WHERE actor_id = $1", user["id"]) == "ru"
    # a new browser, English Accept-Language, no cookie: the user's own choice wins after login
    again = await signed_in(client, user["email"], user["password"])
    home = await again.get(client, "/dashboard", **{"Accept-Language": "en"})
    assert '<html lang="ru">' in home.text and "Проекты" in home.text
    await pool.execute("UPDATE users SET locale = NULL WHERE actor_id = $1", user["id"])


async def test_account_page_sets_language_and_time_zone(client, site, pool, make_user) -> None:
    from datetime import UTC, datetime, timedelta

    from api.i18n import I18n

    user = await make_user("researcher", site["pid"])
    browser = await signed_in(client, user["email"], user["password"])
    page = await browser.get(client, "/account")
    assert page.status_code == 200 and 'value="Asia/Dushanbe" selected' in page.text
    assert 'href="/account"' in page.text  # the user's name in the header leads here
    saved = await browser.post(client, "/account", {"locale": "ru", "time_zone": "Europe/Moscow"})
    assert saved.status_code == 303 and saved.cookies.get("fieldsurvey_lang") == "ru"
    row = await pool.fetchrow("SELECT locale, time_zone FROM users WHERE actor_id = $1", user["id"])
    assert tuple(row) == ("ru", "Europe/Moscow")
    page = await browser.get(client, "/account?saved=1")
    assert '<html lang="ru">' in page.text and "Ваши настройки сохранены." in page.text
    assert 'value="Europe/Moscow" selected' in page.text and "Москва (GMT+03:00)" in page.text
    # the times of the pages follow the zone (the page says what time it is there)
    moscow = I18n.for_locale("ru", "Europe/Moscow")
    now = datetime.now(UTC)
    assert any(moscow.datetime(t) in page.text for t in (now, now - timedelta(minutes=1)))
    refused = await browser.post(client, "/account", {"locale": "ru", "time_zone": "Mars/Olympus"})
    assert refused.status_code == 400 and "Неизвестный часовой пояс" in refused.text
    assert (await browser.post(client, "/account", {"time_zone": "Asia/Dushanbe"},
                               csrf=False)).status_code == 403


async def test_navigation_follows_the_roles(client, site) -> None:
    pid = site["pid"]
    summaries = f'href="/dashboard/projects/{pid}/summaries" data-nav="summaries"'
    coordinator = f'href="/dashboard/projects/{pid}/coordinator" data-nav="coordinator"'
    ministry = await signed_in(client, site["users"]["ministry"]["email"], site["users"]["ministry"]["password"])
    page = await ministry.get(client, f"/dashboard/projects/{pid}/summaries")
    assert summaries in page.text and coordinator not in page.text
    manager = await signed_in(client, site["users"]["manager"]["email"], site["users"]["manager"]["password"])
    page = await manager.get(client, f"/dashboard/projects/{pid}/coordinator")
    assert summaries in page.text and coordinator in page.text


async def test_403_and_404_pages_in_the_users_language(client, site) -> None:
    pid = site["pid"]
    user = site["users"]["ministry"]
    browser = await signed_in(client, user["email"], user["password"])
    browser.lang = "tg"
    forbidden = await browser.get(client, f"/dashboard/projects/{pid}/coordinator")
    assert forbidden.status_code == 403 and "Иҷозат нест" in forbidden.text and "uuid:" not in forbidden.text
    missing = await browser.get(client, "/no/such/page")
    assert missing.status_code == 404 and '<html lang="tg">' in missing.text and "Саҳифа ёфт нашуд" in missing.text
    gone = await browser.get(client, "/dashboard/projects/99999999/summaries")
    assert gone.status_code == 403  # no role there: not allowed, and nothing says whether it exists
    admin = await signed_in(client, *(await _admin(client)))
    admin.lang = "ru"
    gone = await admin.get(client, "/dashboard/projects/99999999/summaries")
    assert gone.status_code == 404 and "Страница не найдена" in gone.text
    api = await client.get("/v1/no/such/thing", headers={"Accept-Language": "ru"})
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")


async def _admin(client):
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    return ADMIN_EMAIL, ADMIN_PASSWORD


async def test_security_headers_csp_and_escaping(client, site) -> None:
    pid = site["pid"]
    admin = await signed_in(client, *(await _admin(client)))
    for path in ("/dashboard", f"/dashboard/projects/{pid}/summaries", f"/dashboard/projects/{pid}/coordinator"):
        page = await admin.get(client, path)
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        for attributes, body in SCRIPT.findall(page.text):
            # every script is a file from this server or a JSON data block, never inline code
            assert 'src="/static/' in attributes or 'type="application/json"' in attributes, attributes
            assert 'type="application/json"' in attributes or not body.strip()
        assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers
        assert site["name"] not in page.text  # the project's name is escaped...
        assert html.escape(site["name"], quote=False) in page.text  # ...and shown
        assert "/static/vendor/htmx/htmx.min.js" in page.text and "hx-headers=" in page.text
    assert (await client.get("/static/vendor/htmx/htmx.min.js")).status_code == 200


async def test_csrf_is_on_pages_only(client, site) -> None:
    user = site["users"]["manager"]
    forged = await client.post("/login", data={"email": user["email"], "password": user["password"]},
                               follow_redirects=False, headers={"Accept-Language": "ru"})
    client.cookies.clear()
    assert forged.status_code == 403 and "Срок действия формы истёк" in forged.text
    # REST with a bearer token and JSON bodies needs no CSRF token
    rest = await client.post("/v1/sessions", json={"email": user["email"], "password": user["password"]})
    assert rest.status_code == 200 and "fieldsurvey_csrf" not in rest.headers.get("set-cookie", "")


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_russian_and_tajik_pages_have_no_english_sentence(client, site, pool, locale) -> None:
    pid = site["pid"]
    admin = await signed_in(client, *(await _admin(client)))
    admin.lang = locale
    ministry = await signed_in(client, site["users"]["ministry"]["email"], site["users"]["ministry"]["password"])
    ministry.lang = locale
    visitor = await anonymous(client)
    visitor.lang = locale
    pages = {
        "login": await visitor.get(client, "/login"),
        "404": await visitor.get(client, "/nothing/here"),
        "home": await admin.get(client, "/dashboard"),
        "summaries": await admin.get(client, f"/dashboard/projects/{pid}/summaries"),
        "coordinator": await admin.get(client, f"/dashboard/projects/{pid}/coordinator"),
        "403": await ministry.get(client, f"/dashboard/projects/{pid}/coordinator"),
        "account": await ministry.get(client, "/account"),
    }
    # what users typed: every project's name (the admin's home lists all, other modules' too)
    user_text = [site["name"], *[row["name"] for row in await pool.fetch("SELECT name FROM projects")],
        *[row["title"] for row in await pool.fetch(
        "SELECT DISTINCT title FROM form_defs WHERE title IS NOT NULL")],
        *[row["display_name"] for row in await pool.fetch("SELECT display_name FROM actors")]]
    for name, page in pages.items():
        assert f'<html lang="{locale}">' in page.text, name
        assert_no_english(page.text, f"{locale} {name}", user_text)
    wrong = await visitor.post(client, "/login", {"email": "x@test.example", "password": "y"})
    assert wrong.status_code == 401
    assert_no_english(wrong.text, f"{locale} login error")

"""The dashboard's pages per role, in-process (the browser tests drive them in Chromium):
who is sent to the login page, who gets the page, who gets "not allowed"."""

from __future__ import annotations

import io
import random
import re

import openpyxl
import pytest

from api.pages.web import SESSION_COOKIE as COOKIE
from tests.pages_client import anonymous
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, pool, settings):
    pid = await screening_project(client, admin_headers)
    rng = random.Random(11)
    for _ in range(40):
        answers = random_answers(rng)
        if answers["consent"] == "yes":  # some flagged for review
            answers.update(worked_away="yes", c1_documents_taken="yes", situation_ongoing="yes")
        await submit(client, admin_headers, pid, submission_xml(answers))
    app_user = await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone A"},
                                 headers=admin_headers)
    assert app_user.status_code == 200
    users = {"admin": await make_user("admin", None)}
    for role in ("manager", "researcher", "ministry", "collector"):
        users[role] = await make_user(role, pid)
    await publish_now(pool, settings, pid)
    return {"pid": pid, "users": users}


async def login(client, email: str, password: str, next_url: str = "/dashboard") -> str | None:
    browser = await anonymous(client)
    response = await browser.post(client, "/login", {"email": email, "password": password, "next": next_url})
    return response.cookies.get(COOKIE)


async def page(client, path: str, token: str | None):
    headers = {"Cookie": f"{COOKIE}={token}"} if token else {}
    return await client.get(path, headers=headers, follow_redirects=False)


EXPECTED = {  # role -> (summaries, coordinator, workbook)
    "admin": (200, 200, 200),
    "manager": (200, 200, 200),
    "researcher": (200, 200, 200),
    "ministry": (200, 403, 200),
    "collector": (403, 403, 403),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_pages_per_role(client, site, role) -> None:
    pid = site["pid"]
    user = site["users"][role]
    token = await login(client, user["email"], user["password"])
    assert token
    home = await page(client, "/dashboard", token)
    assert home.status_code == 200 and "Projects" in home.text
    summaries, coordinator, workbook = EXPECTED[role]
    got = await page(client, f"/dashboard/projects/{pid}/summaries", token)
    assert got.status_code == summaries
    if summaries == 200:
        assert "Risk level by region" in got.text and 'id="chart-data"' in got.text
        assert "/static/vendor/chartjs/chart.umd.js" in got.text
    got = await page(client, f"/dashboard/projects/{pid}/coordinator", token)
    assert got.status_code == coordinator
    if coordinator == 200:
        assert "Submissions per day" in got.text and "needs-review" in got.text
        # the app users' QR codes (images of their own, api/pages/app_users.py)
        qr = re.search(r'<img src="(/projects/\d+/app-users/\d+/qr\.png)"', got.text)
        assert (qr is not None) == (role in ("admin", "manager"))
        if qr:
            image = await page(client, qr.group(1), token)
            assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    else:
        assert "Not allowed" in got.text and "uuid:" not in got.text
    got = await page(client, f"/dashboard/projects/{pid}/risk.xlsx?region=TJ-SU", token)
    assert got.status_code == workbook
    if workbook == 200:
        book = openpyxl.load_workbook(io.BytesIO(got.content))
        assert book.sheetnames[-1] == "Notes"


async def test_anonymous_is_sent_to_login_and_back(client, site) -> None:
    pid = site["pid"]
    for path in ("/dashboard", f"/dashboard/projects/{pid}/summaries", f"/dashboard/projects/{pid}/coordinator",
                 f"/dashboard/projects/{pid}/risk.xlsx"):
        response = await page(client, path, None)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    stale = await page(client, "/dashboard", "not-a-session")
    assert stale.status_code == 303
    user = site["users"]["ministry"]
    browser = await anonymous(client)
    response = await browser.post(client, "/login", {"email": user["email"], "password": user["password"],
                                                     "next": f"/dashboard/projects/{pid}/summaries"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/projects/{pid}/summaries"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE)).lower()
    # HttpOnly, SameSite=Lax (with a CSRF token on every POST), gone with the server session
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=86400" in cookie
    assert "secure" not in cookie  # plain http here


async def test_login_failures_and_redirect_targets(client, site) -> None:
    user = site["users"]["ministry"]
    browser = await anonymous(client)
    wrong = await browser.post(client, "/login", {"email": user["email"], "password": "nope"})
    assert wrong.status_code == 401 and "wrong" in wrong.text and COOKIE not in wrong.cookies
    for target in ("https://evil.example/", "//evil.example/dashboard", "/v1/users", "/\\evil.example"):
        response = await browser.post(client, "/login", {"email": user["email"], "password": user["password"],
                                                         "next": target})
        assert response.headers["location"] == "/dashboard"


async def test_logout_ends_the_session(client, site) -> None:
    user = site["users"]["researcher"]
    token = await login(client, user["email"], user["password"])
    browser = await anonymous(client)
    browser.session = token
    refused = await browser.post(client, "/logout", csrf=False)  # no CSRF token: refused
    assert refused.status_code == 403
    assert (await page(client, "/dashboard", token)).status_code == 200
    response = await browser.post(client, "/logout")
    assert response.status_code == 303
    assert (await page(client, "/dashboard", token)).status_code == 303


async def test_ministry_page_shows_suppressed_cells_and_filters(client, site) -> None:
    pid = site["pid"]
    user = site["users"]["ministry"]
    token = await login(client, user["email"], user["password"])
    got = await page(client, f"/dashboard/projects/{pid}/summaries?region=TJ-KT&from=2026-01&to=2026-03", token)
    assert got.status_code == 200
    assert 'title="suppressed"' in got.text  # 40 screenings: small cells
    assert 'value="TJ-KT" selected' in got.text
    assert f"/dashboard/projects/{pid}/risk.xlsx?region=TJ-KT" in got.text
    assert "Not available with this filter" not in got.text  # a region: risk level in that region
    sexed = await page(client, f"/dashboard/projects/{pid}/summaries?sex=female", token)
    assert "Not available with this filter" in sexed.text  # region x risk level x sex: 3 dimensions
    window = await page(client, f"/dashboard/projects/{pid}/summaries?from=2026-01&to=2026-05", token)
    assert window.status_code == 200 and 'role="alert"' in window.text  # whole periods only
    bad = await page(client, f"/dashboard/projects/{pid}/summaries?from=2026-13", token)
    assert bad.status_code == 200 and 'role="alert"' in bad.text


async def test_chart_library_is_served(client) -> None:
    response = await client.get("/static/vendor/chartjs/chart.umd.js")
    assert response.status_code == 200 and b"Chart" in response.content[:5000]
    assert (await client.get("/static/dashboard/dashboard.js")).status_code == 200



async def test_ministry_page_labels_come_from_the_forms_translations(client, site) -> None:
    from forms.schema import parse_xform
    from tests.pages_client import signed_in
    from tests.summaries_seed import screening_schema

    xform, _ = screening_schema()
    region = next(f for f in parse_xform(xform).walk() if f.name == "region")
    khatlon = next(c for c in region.choices if c.name == "TJ-KT")
    ru_label = next(v for k, v in khatlon.labels.items() if k.endswith("(ru)"))
    user = site["users"]["ministry"]
    browser = await signed_in(client, user["email"], user["password"])
    browser.lang = "ru"
    page = await browser.get(client, f"/dashboard/projects/{site['pid']}/summaries")
    assert f">{ru_label}</option>" in page.text and ">Khatlon<" not in page.text


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_ministry_workbook_in_the_page_language(client, site, locale) -> None:
    """risk.xlsx from the ministry page: sheet titles, headings, dimension and value names and
    the workbook's own words in the page's language (REST's risk.xlsx stays English)."""
    from api.i18n import I18n
    from tests.pages_client import signed_in

    _ = I18n.for_locale(locale).gettext
    user = site["users"]["ministry"]
    browser = await signed_in(client, user["email"], user["password"])
    browser.lang = locale
    got = await browser.get(client, f"/dashboard/projects/{site['pid']}/risk.xlsx")
    assert got.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book.sheetnames[0] == _("Risk level by region")[:31]
    assert book.sheetnames[-1] == _("Notes") != "Notes"
    rows = [r for r in book.worksheets[0].iter_rows(values_only=True) if any(r)]
    assert rows[1][0] == f"{_('Region')} \\ {_('Risk level')}"
    assert rows[-1][0] == _("Total") != "Total"
    levels = {_("Low"), _("Medium"), _("High")}
    assert levels <= set(rows[1][1:])  # risk levels named, not coded
    trend = [r[0] for r in book.worksheets[-2].iter_rows(values_only=True) if r[0]]
    assert any(str(v).startswith(_("Period: %(period)s", period="")) for v in trend)
    assert _("Total (persons)") in trend
    # the notes sheet too: the publication, the method and its perturbation table
    notes = {row[0]: row[1] for row in book[_("Notes")].iter_rows(values_only=True)
             if row[0] and len(row) > 1 and row[1]}
    for key in ("Disclosure control", "Publication", "Perturbation table", "Counting", "Districts"):
        assert _(key) in notes and _(key) != key, key
    assert notes[_("Disclosure control")] == _("cell-key perturbation with a threshold")
    assert notes[_("Perturbation table")].startswith(_("count %(count)s or more: %(adjustments)s") % {
        "count": 13, "adjustments": ""})

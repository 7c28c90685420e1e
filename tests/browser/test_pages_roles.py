"""Each role's tasks in a real headless Chromium (Debian's), against `fieldsurvey serve`, at a
phone size (390x844) and a desktop size (1366x900), in English, Russian and Tajik: an admin
creates a user and gives a role; a researcher downloads the XLSX and the CSV zip (files
checked: sheets, rows); a ministry user sees the summaries and gets the 403 page on microdata
pages. axe-core (npm, injected) must find no serious or critical violation on any page.
Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
import zipfile

import openpyxl
import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)

# Each language once, at alternating sizes; every page is also checked at the other size
# (the viewport is resized: layout and screenshot, no second walk) to keep the suite lean.
CASES = [("en", "phone"), ("ru", "desktop"), ("tg", "phone")]
N = 30
WORDS = {  # what each language's pages say (from the catalogues), to check the language shown
    "en": {"forbidden": "Not allowed", "summaries": "Risk summaries"},
    "ru": {"forbidden": "Нет доступа", "summaries": "Сводки по рискам"},
    "tg": {"forbidden": "Иҷозат нест", "summaries": "Ҷамъбасти хатарҳо"},
}


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, live_server, pool, settings):
    assert AXE.is_file(), "npm ci in api/pages installs axe-core"
    pid = await screening_project(client, admin_headers)
    rng = random.Random(8)
    for _ in range(N):
        await submit(client, admin_headers, pid, submission_xml(random_answers(rng, region="TJ-SU")))
    await publish_now(pool, settings, pid)
    ARTIFACTS.mkdir(exist_ok=True)
    return {"pid": pid, "base": live_server.base_url,
            "admin": {"email": "admin@test.example", "password": "admin-password-for-tests"},
            "researcher": await make_user("researcher", pid), "ministry": await make_user("ministry", pid)}


async def session(browser, site, user: dict, locale: str, size: str):
    """A context in `locale` (the browser's Accept-Language), logged in as `user`."""
    context = await browser.new_context(viewport=VIEWPORTS[size], accept_downloads=True, locale=locale,
                                        bypass_csp=True)  # only so that axe-core can be injected
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{site['base']}/login")
    assert await page.get_attribute("html", "lang") == locale
    await page.fill("input[name=email]", user["email"])
    await page.fill("input[name=password]", user["password"])
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    return context, page, errors


async def check(page, name: str, locale: str) -> None:
    """The page is in `locale`, fits the phone and the desktop screens, and has no serious or
    critical axe violation at either size."""
    assert await page.get_attribute("html", "lang") == locale, name
    first = page.viewport_size
    await page.add_script_tag(path=str(AXE))
    for size in sorted(VIEWPORTS, key=lambda s: VIEWPORTS[s] != first):
        await page.set_viewport_size(VIEWPORTS[size])
        # charts follow a resize on the next animation frames (ResizeObserver): let them
        await page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        await page.wait_for_timeout(300)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} {size}: the page scrolls sideways by {overflow}px"
        result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name} {size}: axe: {json.dumps(bad)}"
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    await page.set_viewport_size(first)


@pytest.mark.parametrize(("locale", "size"), CASES)
async def test_admin_creates_a_user_and_gives_a_role(browser, site, pool, locale, size) -> None:
    context, page, errors = await session(browser, site, site["admin"], locale, size)
    try:
        await page.goto(f"{site['base']}/admin/users")
        await check(page, f"admin-users-{locale}", locale)
        email = f"browser-{uuid.uuid4().hex[:8]}@test.example"
        await page.fill("#new-user input[name=email]", email)
        await page.fill("#new-user input[name=display_name]", "Фарангис")
        async with page.expect_navigation():
            await page.click("#new-user button[type=submit]")
        assert await page.locator("#new-password code").count() == 1
        await page.select_option("#add-role select[name=project_id]", str(site["pid"]))
        await page.select_option("#add-role select[name=role]", "researcher")
        async with page.expect_navigation():
            await page.click("#add-role button[type=submit]")
        assert await page.locator("#roles tbody tr").count() == 1
        await check(page, f"admin-user-{locale}", locale)
        user_id = await pool.fetchval("SELECT actor_id FROM users WHERE email = $1", email)
        assert await pool.fetchval("SELECT role FROM assignments WHERE actor_id = $1 AND project_id = $2",
                                   user_id, site["pid"]) == "researcher"
        await page.goto(f"{site['base']}/admin/audits?action=user")
        await check(page, f"admin-audits-{locale}", locale)
        assert not errors, errors
    finally:
        await context.close()


@pytest.mark.parametrize(("locale", "size"), CASES)
async def test_researcher_downloads_xlsx_and_csv_zip(browser, site, locale, size) -> None:
    pid = site["pid"]
    context, page, errors = await session(browser, site, site["researcher"], locale, size)
    try:
        await page.goto(f"{site['base']}/projects/{pid}/data")
        await check(page, f"researcher-data-{locale}", locale)
        await page.click("[data-form=risk_screening] a >> nth=0")
        await page.wait_for_selector("#export")
        await check(page, f"researcher-export-{locale}", locale)
        async with page.expect_download() as info:
            await page.click("#download-xlsx")
        xlsx = await info.value
        path = ARTIFACTS / f"export-{locale}-{size}.xlsx"
        await xlsx.save_as(str(path))
        assert xlsx.suggested_filename.endswith(".xlsx")
        book = openpyxl.load_workbook(path, read_only=True)
        assert len(list(book[book.sheetnames[0]].iter_rows(values_only=True))) == N + 1
        async with page.expect_download() as info:
            await page.click("#download-csv")
        zipped = await info.value
        path = ARTIFACTS / f"export-{locale}-{size}.csv.zip"
        await zipped.save_as(str(path))
        with zipfile.ZipFile(path) as archive:
            rows = list(csv.reader(io.StringIO(archive.read("risk_screening.csv").decode("utf-8-sig"))))
        assert len(rows) == N + 1
        await page.goto(f"{site['base']}/projects/{pid}/data/risk_screening/report")
        await page.wait_for_selector("html[data-charts]")
        assert int(await page.get_attribute("html", "data-charts")) > 0
        await check(page, f"researcher-report-{locale}", locale)
        await page.goto(f"{site['base']}/projects/{pid}/connect")
        await check(page, f"researcher-connect-{locale}", locale)
        assert not errors, errors
    finally:
        await context.close()


@pytest.mark.parametrize(("locale", "size"), CASES)
async def test_ministry_sees_summaries_and_no_microdata(browser, site, locale, size) -> None:
    pid = site["pid"]
    context, page, errors = await session(browser, site, site["ministry"], locale, size)
    try:
        await page.goto(f"{site['base']}/dashboard/projects/{pid}/summaries")
        await page.wait_for_selector("html[data-charts='5']", timeout=15_000)
        assert WORDS[locale]["summaries"] in await page.inner_text("h1")
        await check(page, f"ministry-summaries-{locale}", locale)
        for path in (f"/dashboard/projects/{pid}/coordinator", f"/projects/{pid}/data",
                     f"/projects/{pid}/data/risk_screening/submissions.xlsx", f"/projects/{pid}/connect",
                     "/admin/users"):
            response = await page.goto(f"{site['base']}{path}")
            assert response.status == 403, path
            assert WORDS[locale]["forbidden"] in await page.inner_text("h1")
            assert await page.locator("text=uuid:").count() == 0
        await check(page, f"ministry-forbidden-{locale}", locale)
        errors = [e for e in errors if "403" not in e]  # the browser logs the refused loads
        assert not errors, errors
    finally:
        await context.close()

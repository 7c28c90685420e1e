"""The dashboard in a real headless Chromium (Debian's), at a phone size (390x844) and at a
desktop size, against `fieldsurvey serve`: the pages load, the charts draw, the workbook
downloads, a ministry user cannot reach the microdata pages. Screenshots are saved in
tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import io
import random

import openpyxl
import pytest

from tests.browser.support import ARTIFACTS, VIEWPORTS
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user, live_server, pool, settings):
    pid = await screening_project(client, admin_headers)
    rng = random.Random(5)
    for i in range(260):
        place = {"region": "TJ-SU", "district": "TJ-SU-KHUJAND"} if i % 2 else {}
        answers = random_answers(rng, **place)
        if answers["consent"] == "yes" and i % 7 == 0:
            answers.update(worked_away="yes", c1_documents_taken="yes", situation_ongoing="yes")
        await submit(client, admin_headers, pid, submission_xml(answers))
    created = await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone Khujand"},
                                headers=admin_headers)
    assert created.status_code == 200
    ministry = await make_user("ministry", pid)
    manager = await make_user("manager", pid)
    await publish_now(pool, settings, pid)
    ARTIFACTS.mkdir(exist_ok=True)
    return {"pid": pid, "base": live_server.base_url, "ministry": ministry, "manager": manager}


async def logged_in_page(browser, site, user: dict, size: str, target: str):
    context = await browser.new_context(viewport=VIEWPORTS[size], accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{site['base']}{target}")
    assert "/login" in page.url  # sent to log in first
    await page.fill("input[name=email]", user["email"])
    await page.fill("input[name=password]", user["password"])
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    return context, page


async def shot(page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
async def test_ministry_view_draws_charts_and_downloads_the_workbook(browser, site, size) -> None:
    pid = site["pid"]
    context, page = await logged_in_page(browser, site, site["ministry"], size, f"/dashboard/projects/{pid}/summaries")
    try:
        assert page.url.endswith(f"/dashboard/projects/{pid}/summaries")
        await page.wait_for_selector("html[data-charts='5']", timeout=15_000)
        for index in range(5):
            canvas = page.locator(f"#chart-{index}")
            assert await canvas.get_attribute("data-drawn") == "true"
            painted = await canvas.evaluate(
                """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                          let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
            assert painted > 500, f"chart {index} drew nothing"
            box = await canvas.bounding_box()
            assert box["width"] > 200 and box["width"] <= VIEWPORTS[size]["width"]
        assert await page.locator(".supp").count() > 0  # suppressed cells are shown as such
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, "the page scrolls sideways"
        await shot(page, f"ministry-summaries-{size}")
        async with page.expect_download() as info:
            await page.click("#download")
        download = await info.value
        path = ARTIFACTS / f"risk-{size}.xlsx"
        await download.save_as(str(path))
        book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
        assert book.sheetnames[0] == "Risk level by region" and book.sheetnames[-1] == "Notes"
        # filters: a region, and the tables follow
        await page.select_option("select[name=region]", "TJ-SU")
        async with page.expect_navigation():
            await page.click("#filters button[type=submit]")
        assert "region=TJ-SU" in page.url
        await page.wait_for_selector("html[data-charts='5']")
        assert "region=TJ-SU" in (await page.get_attribute("#download", "href"))
        await shot(page, f"ministry-summaries-sughd-{size}")
    finally:
        await context.close()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
async def test_ministry_cannot_reach_microdata(browser, site, size) -> None:
    pid = site["pid"]
    context, page = await logged_in_page(browser, site, site["ministry"], size, "/dashboard")
    try:
        assert await page.locator(f"a[href='/dashboard/projects/{pid}/coordinator']").count() == 0
        response = await page.goto(f"{site['base']}/dashboard/projects/{pid}/coordinator")
        assert response.status == 403
        assert "Not allowed" in await page.content()
        assert await page.locator("text=uuid:").count() == 0
        await shot(page, f"ministry-coordinator-forbidden-{size}")
        api = await page.goto(f"{site['base']}/v1/projects/{pid}/forms/risk_screening/submissions")
        assert api.status == 401  # the REST API never takes the dashboard's cookie
    finally:
        await context.close()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
async def test_coordinator_view(browser, site, size) -> None:
    pid = site["pid"]
    context, page = await logged_in_page(browser, site, site["manager"], size, f"/dashboard/projects/{pid}/coordinator")
    try:
        assert await page.locator("#per-day tbody tr").count() >= 1
        assert int(await page.locator("#per-day tbody tr td").first.inner_text()) > 0  # today, first
        assert await page.locator("#needs-review tbody tr").count() >= 1
        qr = page.locator(".app-users img").first
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        await shot(page, f"coordinator-{size}")
        await page.click("text=Risk summaries")
        await page.wait_for_selector("html[data-charts='5']")
    finally:
        await context.close()


async def test_login_page_on_a_phone(browser, site) -> None:
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    page = await context.new_page()
    try:
        await page.goto(f"{site['base']}/login")
        await page.fill("input[name=email]", site["ministry"]["email"])
        await page.fill("input[name=password]", "wrong password")
        async with page.expect_navigation():
            await page.click("form[action='/login'] button[type=submit]")
        assert await page.locator("[role=alert]").count() == 1
        await shot(page, "login-error-phone")
    finally:
        await context.close()

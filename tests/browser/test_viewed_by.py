"""The "viewed by" list of a submission's page and of a case's page, and the managers' page of
unusual reading, in a real headless Chromium at 390x844, in Russian and Tajik: a researcher
reads a support-centre visit and its case, then the manager opens them; the
list names the researcher and how they read, the page does not scroll sideways, has no serious
or critical axe-core violation, and shows no English. Screenshots in tests/artifacts/."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS
from tests.cases_seed import seed_case

ENGLISH = ("Viewed by", "Who", "When", "How", "its page", "the case", "Unusual reading",
           "Nobody", "records in an hour", "[masked]")
WORDS = {"ru": {"page": "её страница", "case": "дело"},
         "tg": {"page": "саҳифаи он", "case": "парванда"}}


@pytest.fixture(scope="module")
async def seen(client, pool, admin_headers, make_user, live_server):
    made = await client.post("/v1/projects", json={"name": f"Viewed {uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    case = await seed_case(client, pool, admin_headers, pid)
    researcher, manager = await make_user("researcher", pid), await make_user("manager", pid)
    return {"pid": pid, "base": live_server.base_url, "case": case, "researcher": researcher,
            "manager": manager}


async def log_in(page, url: str, user: dict, lang: str) -> None:
    await page.goto(url)
    assert "/login" in page.url
    await page.fill("input[name=email]", user["email"])
    await page.fill("input[name=password]", user["password"])
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    async with page.expect_navigation():
        await page.click(f"#language button[value={lang}]")
    assert page.url.split("#")[0] == url


async def check_page(page, name: str, lang: str, section: str) -> str:
    assert await page.get_attribute("html", "lang") == lang
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} scrolls sideways by {overflow}px"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())  # evaluate() is not subject to the page's CSP
    result = await page.evaluate("axe.run(document).then(r => r.violations.map(v => "
                                 "({id: v.id, impact: v.impact, nodes: v.nodes.length, "
                                 "target: v.nodes[0] && v.nodes[0].target.join(' ')})))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name} ({lang}): {bad}"
    text = await page.inner_text(section)
    found = [w for w in ENGLISH if w in text]
    assert not found, f"{name} ({lang}) shows English: {found}"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(section).screenshot(path=str(ARTIFACTS / f"{name}-{lang}-phone.png"))
    return text


async def readers(page, email: str) -> list[str]:
    """The entries of the viewed-by list that name `email`."""
    return [t for t in await page.locator("#viewed-by li").all_inner_texts() if email in t]


@pytest.mark.parametrize("lang", ["ru", "tg"])
async def test_viewed_by_on_a_phone(browser, seen, lang) -> None:
    pid, base, case = seen["pid"], seen["base"], seen["case"]
    visit = f"{base}/projects/{pid}/forms/support_center_followup/submissions/{case['ids'][1]}"
    case_url = f"{base}/projects/{pid}/cases/{case['case']}"
    for who in ("researcher", "manager"):
        context = await browser.new_context(viewport=VIEWPORTS["phone"])
        page = await context.new_page()
        try:
            await log_in(page, visit, seen[who], lang)
            if who == "researcher":
                assert await page.locator("#viewed-by").count() == 0
                await page.goto(case_url)
                assert await page.locator("#viewed-by").count() == 0
                continue
            await check_page(page, "viewed-by-submission", lang, "#viewed-by")
            rows = await readers(page, seen["researcher"]["email"])
            assert any(WORDS[lang]["page"] in r for r in rows), rows
            await page.goto(case_url)
            await check_page(page, "viewed-by-case", lang, "#viewed-by")
            rows = await readers(page, seen["researcher"]["email"])
            assert any(WORDS[lang]["case"] in r for r in rows), rows
            assert any(WORDS[lang]["page"] in r for r in rows), rows
            await page.goto(f"{base}/projects/{pid}/reading")
            await check_page(page, "unusual-reading", lang, "main")
        finally:
            await context.close()

"""The referral section of a case page in a real headless Chromium at 390x844, in Russian and
Tajik: the Dushanbe manager opens a case that Khujand referred, accepts the referral, and
refers the case on to a service; the page does not scroll sideways, has no serious or
critical axe-core violation, and shows no English. Screenshots in tests/artifacts/."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS
from tests.cases_seed import publish_case_forms, send_intake

# English words that must not appear on the Russian or Tajik page.
ENGLISH = ("Referral", "Transfer", "Accept", "Decline", "Owner", "Caseworker", "Consent",
           "Waiting for an answer", "Accepted", "Send", "support centre", "State", "Apply")
ANSWERED = {"ru": "Принято", "tg": "Қабул шуд"}


@pytest.fixture(scope="module")
async def referred(client, pool, admin_headers, make_user, live_server):
    made = await client.post("/v1/projects", json={"name": f"Referrals {uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    await publish_case_forms(pool, pid)
    khujand, dushanbe = await make_user("manager", pid), await make_user("manager", pid)
    cases = {}
    for lang in ("ru", "tg"):
        sent = await send_intake(client, khujand["headers"], pid, centre="khujand", consent="yes")
        referral = await client.post(f"/v1/projects/{pid}/cases/{sent['case']}/referrals",
                                     json={"toCentre": "dushanbe", "service": "shelter"},
                                     headers=khujand["headers"])
        assert referral.status_code == 201, referral.text
        cases[lang] = {**sent, "referral": referral.json()["id"]}
    return {"pid": pid, "base": live_server.base_url, "dushanbe": dushanbe, "cases": cases}


async def check_section(page, name: str, lang: str,
                        parts: tuple[str, ...] = ("#referrals", "#owner")) -> None:
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
    text = " ".join([await page.inner_text(part) for part in parts])
    found = [w for w in ENGLISH if w in text]
    assert not found, f"{name} ({lang}) shows English: {found}"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(parts[0]).screenshot(
        path=str(ARTIFACTS / f"case-{name}-{lang}-phone.png"))


@pytest.mark.parametrize("lang", ["ru", "tg"])
async def test_referral_section_on_a_phone(browser, referred, lang) -> None:
    pid, base, case = referred["pid"], referred["base"], referred["cases"][lang]
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    page = await context.new_page()
    url = f"{base}/projects/{pid}/cases/{case['case']}"
    try:
        await page.goto(url)
        assert "/login" in page.url
        await page.fill("input[name=email]", referred["dushanbe"]["email"])
        await page.fill("input[name=password]", referred["dushanbe"]["password"])
        async with page.expect_navigation():
            await page.click("main button[type=submit]")
        async with page.expect_navigation():
            await page.click(f"#language button[value={lang}]")
        assert page.url.split("#")[0] == url
        item = page.locator(f"#referral-{case['referral']}")
        assert await item.locator("button[value=accepted]").is_visible()
        await check_section(page, "referral-pending", lang)

        async with page.expect_navigation():
            await item.locator("button[value=accepted]").click()
        assert page.url.endswith("#referrals")
        assert ANSWERED[lang] in await item.locator(".referral-state").inner_text()
        assert await item.locator("form").count() == 0  # answered: nothing left to do
        # the timeline shows the referral and its answer
        assert await page.locator("#timeline li.referral-entry").count() == 2

        # refer the case on, to a legal-aid service only
        await page.select_option("form.refer-form select[name=to_centre]", "")
        await page.select_option("form.refer-form select[name=service]", "legal")
        async with page.expect_navigation():
            await page.click("form.refer-form button[type=submit]")
        assert await page.locator("#referrals ol.referrals > li").count() == 2
        await check_section(page, "referral-answered", lang)

        # every referral of the project, answered ones too, from the cases list
        await page.goto(f"{base}/projects/{pid}/cases")
        async with page.expect_navigation():
            await page.click("#referrals-link")
        await page.select_option("select[name=state]", "")
        async with page.expect_navigation():
            await page.click("#referral-filter button[type=submit]")
        assert await page.locator(f"#referral-list a[href$='#referral-{case['referral']}']"
                                  ).count() == 1
        await check_section(page, "referrals-list", lang, ("main",))
    finally:
        await context.close()

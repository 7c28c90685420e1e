"""The scope settings page (issue 24) in a real headless Chromium at 390x844, in Russian and
Tajik: an administrator opens a researcher's page, follows its project role's scope link,
limits the role to the Khujand centre and the Sughd region, then gives the whole project back.
The page does not scroll sideways, has no serious or critical axe-core violation and shows no
English; what it saved is what REST reads. Screenshots in tests/artifacts/."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS
from tests.cases_seed import publish_case_forms, send_intake
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

# English words that must not appear on the Russian or Tajik page.
ENGLISH = ("Scope", "Regions", "Support centre", "Submitter", "Save", "whole project",
           "Change", "Another centre")
SAVED = {"ru": "Область доступа сохранена.", "tg": "Доираи дастрасӣ нигоҳ дошта шуд."}


@pytest.fixture(scope="module")
async def scoped(client, pool, admin_headers, make_user, live_server):
    made = await client.post("/v1/projects", json={"name": f"P-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    await publish_case_forms(pool, pid)
    codes = {centre: (await send_intake(client, admin_headers, pid, centre=centre))["code"]
             for centre in ("dushanbe", "khujand")}  # the page offers the cases' centres
    users = {lang: await make_user("researcher", pid) for lang in ("ru", "tg")}
    return {"pid": pid, "base": live_server.base_url, "users": users, "codes": codes}


async def check_page(page, name: str, lang: str) -> None:
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
    text = await page.inner_text("main")
    found = [w for w in ENGLISH if w in text]
    assert not found, f"{name} ({lang}) shows English: {found}"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"admin-{name}-{lang}-phone.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ru", "tg"])
async def test_scope_settings_on_a_phone(browser, client, admin_headers, scoped, pool,
                                        lang) -> None:
    pid, base, user = scoped["pid"], scoped["base"], scoped["users"][lang]
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    page = await context.new_page()
    try:
        await page.goto(f"{base}/admin/users/{user['id']}")
        assert "/login" in page.url
        await page.fill("input[name=email]", ADMIN_EMAIL)
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        async with page.expect_navigation():
            await page.click("main button[type=submit]")
        async with page.expect_navigation():
            await page.click(f"#language button[value={lang}]")
        async with page.expect_navigation():
            await page.click(f"a[href='/admin/users/{user['id']}/scopes/{pid}']")
        assert page.url.endswith(f"/admin/users/{user['id']}/scopes/{pid}")
        await check_page(page, "scope", lang)

        await page.check("input[name=region][value=TJ-SU]")
        await page.check("input[name=centre][value=khujand]")
        assert not await page.is_checked("input[name=centre][value=dushanbe]")
        async with page.expect_navigation():
            await page.click("#scope-form button[type=submit]:not([name=clear])")
        assert SAVED[lang] in await page.inner_text("main")
        assert "khujand" in await page.inner_text("#current-scope")
        await check_page(page, "scope-saved", lang)
        read = await client.get(f"/v1/projects/{pid}/assignments/scopes/{user['id']}",
                                headers=admin_headers)
        assert read.json()["regions"] == ["TJ-SU"] and read.json()["centres"] == ["khujand"]
        # the researcher's case list now holds Khujand's case only
        cases = await client.get(f"/v1/projects/{pid}/datasets/cases/entities.csv",
                                 headers=user["headers"])
        assert scoped["codes"]["khujand"] in cases.text
        assert scoped["codes"]["dushanbe"] not in cases.text

        async with page.expect_navigation():
            await page.click("#scope-form button[name=clear]")
        read = await client.get(f"/v1/projects/{pid}/assignments/scopes/{user['id']}",
                                headers=admin_headers)
        assert read.json()["scoped"] is False
    finally:
        await context.close()
        # the switcher saved this language to the shared administrator's account: give the
        # other modules back an account without one
        await pool.execute("UPDATE users SET locale = NULL WHERE email = $1", ADMIN_EMAIL)

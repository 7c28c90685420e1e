"""Alerts and webhooks on a phone (390x844) in a real headless Chromium, in Russian and Tajik:
/alerts with an alert and the unread count in the header, the alert choices on /account, the
webhooks page and a webhook's delivery log: no sideways scrolling, no serious or critical
axe-core violation, no English. Screenshots in tests/artifacts/."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS

ENGLISH = ("Alerts", "Mark as read", "Webhooks", "Deliveries", "Send again", "In the app",
           "By email", "New webhook", "Urgent screening")


@pytest.fixture(scope="module")
async def setup(client, pool, admin_headers, make_user, live_server):
    made = await client.post("/v1/projects", json={"name": f"Alerts {uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    manager = await make_user("manager", pid)
    from api.services.alerts import alert_users

    async with pool.acquire() as conn:
        await alert_users(conn, [manager["id"]], project_id=pid, kind="screening",
                          once_key=f"test/{uuid.uuid4()}", link=f"/projects/{pid}/forms",
                          details={"form": "risk_screening", "formTitle": "Risk screening",
                                   "riskLevel": "high", "urgent": True, "region": "TJ-SU"})
        hook = await conn.fetchval(
            "INSERT INTO webhooks (project_id, url, events, secret, created_by) VALUES "
            "($1, 'https://hooks.example.org/a/very/long/path/of/a/receiver/that/wraps', "
            "'{submission.created,submission.reviewed}', $2, $3) RETURNING id",
            pid, "x" * 32, manager["id"])
        await conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, event_kind, subject, project_id,"
            " details, event_at, state, attempts, last_status, last_error) VALUES "
            "($1, 1, 'submission.created', 'submission/1', $2, '{}', now(), 'failed', 9, 503, "
            "'HTTP 503')", hook, pid)
    return {"pid": pid, "hook": hook, "base": live_server.base_url, "manager": manager}


async def check(page, name: str, lang: str) -> None:
    assert await page.get_attribute("html", "lang") == lang
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} scrolls sideways by {overflow}px"
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    result = await page.evaluate("axe.run(document).then(r => r.violations.map(v => "
                                 "({id: v.id, impact: v.impact, "
                                 "target: v.nodes[0] && v.nodes[0].target.join(' ')})))")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name} ({lang}): {bad}"
    text = await page.inner_text("main") + await page.inner_text("header")
    found = [w for w in ENGLISH if w in text]
    assert not found, f"{name} ({lang}) shows English: {found}"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{lang}-phone.png"), full_page=True)


@pytest.mark.parametrize("lang", ["ru", "tg"])
async def test_alerts_and_webhooks_on_a_phone(browser, setup, lang) -> None:
    base, pid = setup["base"], setup["pid"]
    context = await browser.new_context(viewport=VIEWPORTS["phone"])
    page = await context.new_page()
    try:
        await page.goto(f"{base}/alerts")
        await page.fill("input[name=email]", setup["manager"]["email"])
        await page.fill("input[name=password]", setup["manager"]["password"])
        async with page.expect_navigation():
            await page.click("main button[type=submit]")
        async with page.expect_navigation():
            await page.click(f"#language button[value={lang}]")
        assert page.url.endswith("/alerts")
        assert await page.get_attribute("a.alerts-link", "data-unread") == "1"
        await check(page, "alerts", lang)
        await page.goto(f"{base}/account")
        await check(page, "account-alerts", lang)
        await page.goto(f"{base}/projects/{pid}/webhooks")
        await check(page, "webhooks", lang)
        await page.goto(f"{base}/projects/{pid}/webhooks/{setup['hook']}")
        assert await page.locator("tr[data-state=failed] button").count() == 1
        await check(page, "webhook-deliveries", lang)
    finally:
        await context.close()

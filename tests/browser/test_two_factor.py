"""Two-factor login in a real headless Chromium (Debian's) at a phone's size (390x844), in
Russian and Tajik, against `fieldsurvey serve`: a user sets it up on the account page (the
key read off the page, the code made by pyotp as an authenticator app makes it), logs out,
logs in with a code, then with a recovery code; a wrong code is refused, and wrong codes are
throttled like wrong passwords (the server's own limit: 5 to one account from one address).
axe-core finds no serious or critical violation on the pages of the way. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import json
import time

import pyotp
import pytest

from tests.browser.support import ARTIFACTS, AXE, VIEWPORTS

WORDS = {  # from the catalogues: what each language's pages say
    "ru": {"wrong": "Код неверный", "throttled": "Слишком много неудачных попыток",
           "on": "Двухфакторная аутентификация включена"},
    "tg": {"wrong": "Рамз нодуруст", "throttled": "Кӯшишҳои нокоми воридшавӣ",
           "on": "Вуруди дуомилӣ аз"},
}


@pytest.fixture(scope="module")
def base(live_server) -> str:
    assert AXE.is_file(), "npm ci in api/pages installs axe-core"
    ARTIFACTS.mkdir(exist_ok=True)
    return live_server.base_url


async def check(page, name: str, locale: str) -> None:
    """In `locale`, no sideways scrolling at the phone's size, no serious or critical axe
    violation; a screenshot."""
    assert await page.get_attribute("html", "lang") == locale, name
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name}: the page scrolls sideways by {overflow}px"
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: axe: {json.dumps(bad)}"
    await page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)


async def submit(page, form: str) -> None:
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")


async def password(page, base: str, user: dict) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=email]", user["email"])
    await page.fill("input[name=password]", user["password"])
    await submit(page, "form[action='/login']")


async def log_out(page) -> None:
    await submit(page, "form.logout")
    assert page.url.endswith("/login")


def wrong_code(secret: str) -> str:
    """A 6-digit code that is none of the three the server accepts now."""
    totp, now = pyotp.TOTP(secret), time.time()
    good = {totp.at(now + 30 * k) for k in (-1, 0, 1, 2)}
    return next(c for c in ("135790", "246801", "975310", "864202", "112358") if c not in good)


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_set_up_then_log_in_with_a_code_and_a_recovery_code(browser, base, make_user,
                                                                  pool, locale) -> None:
    user = await make_user(None, None)
    context = await browser.new_context(viewport=VIEWPORTS["phone"], locale=locale,
                                        bypass_csp=True)  # only so that axe-core can be injected
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    words = WORDS[locale]
    try:
        await password(page, base, user)
        assert "/dashboard" in page.url
        # set it up on the account page
        await page.goto(f"{base}/account")
        await check(page, f"2fa-account-off-{locale}", locale)
        async with page.expect_navigation():
            await page.click("#two-factor-start")
        assert await page.locator("#totp-qr").is_visible()
        await check(page, f"2fa-setup-{locale}", locale)
        secret = (await page.inner_text("#totp-key")).replace(" ", "")
        totp = pyotp.TOTP(secret)
        await page.fill("#two-factor-setup input[name=code]", totp.now())
        await submit(page, "#two-factor-setup")
        codes = await page.locator("#recovery-codes code").all_inner_texts()
        assert len(set(codes)) == 10
        await check(page, f"2fa-codes-{locale}", locale)
        async with page.expect_navigation():
            await page.click("#continue")
        assert words["on"] in await page.inner_text("#two-factor-state")
        await log_out(page)

        # log in: the password, then a wrong code (refused), then the app's code
        await password(page, base, user)
        assert "/login/code" in page.url
        await check(page, f"2fa-login-code-{locale}", locale)
        await page.fill("#login-code input[name=code]", wrong_code(secret))
        await submit(page, "#login-code")
        assert words["wrong"] in await page.inner_text("p.error[role=alert]")
        await check(page, f"2fa-login-wrong-{locale}", locale)
        await page.fill("#login-code input[name=code]", totp.at(time.time() + 30))
        await submit(page, "#login-code")
        assert "/dashboard" in page.url
        await log_out(page)

        # then with a recovery code, as one copies it off paper
        await password(page, base, user)
        await page.fill("#login-code input[name=code]", codes[3].upper())
        await submit(page, "#login-code")
        assert "/dashboard" in page.url
        assert await pool.fetchval(
            "SELECT count(*) FROM user_recovery_codes WHERE actor_id = $1 AND used_at IS NOT NULL",
            user["id"]) == 1
        await log_out(page)

        # wrong codes are failed logins: the 5th from this address stops it, the right one too
        await password(page, base, user)
        for _ in range(4):  # the first wrong code above was the first failure
            await page.fill("#login-code input[name=code]", wrong_code(secret))
            await submit(page, "#login-code")
        await page.fill("#login-code input[name=code]", totp.at(time.time() + 30))
        await submit(page, "#login-code")
        assert words["throttled"] in await page.inner_text("p.error[role=alert]")
        assert "/login/code" in page.url
        await check(page, f"2fa-login-throttled-{locale}", locale)
        errors = [e for e in errors if "401" not in e and "429" not in e]  # refused, logged
        assert not errors, errors
    finally:
        await context.close()

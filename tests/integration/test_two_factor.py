"""Two-factor login (issue 25): setting it up on /account (a QR code that an app reads, ten
recovery codes kept only as hashes), the login pages asking for the code, POST /v1/sessions
taking it as `code`, wrong codes throttled with wrong passwords, each code accepted once,
FIELDSURVEY_REQUIRE_2FA sending a user to set it up first, and an administrator's reset
(pages and CLI), audited. Codes are made with pyotp from the secret the page shows, at the
real time."""

from __future__ import annotations

import base64
import io
import re
import time
from dataclasses import replace
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from api.auth import token_hash
from api.pages.web import SESSION_COOKIE
from tests.integration.test_cli import run_cli
from tests.integration.test_guessing import HTTPS, OPENROSA, basic, digest
from tests.pages_client import anonymous, signed_in

KEY = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')
CODES = re.compile(r'<li><code class="secret">([a-z2-7-]+)</code></li>')


@pytest.fixture
def limits(client):
    state = client.app.state
    original = state.settings

    def apply(**values):
        state.settings = replace(original, **values)

    yield apply
    state.settings = original


def later_code(secret: str, steps: int = 1) -> str:
    """The code of a coming time step (accepted: a phone's clock may run ahead), so that a test
    need not wait 30 s for a code not yet used."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


async def enrol(client, browser) -> tuple[str, list[str]]:
    """Sets up two-factor login on /account as the app would: the key from the page, the code
    pyotp makes of it. Returns the secret and the recovery codes shown."""
    page = await browser.get(client, "/account/two-factor")
    assert page.status_code == 200, page.text
    secret = KEY.search(page.text).group(1).replace(" ", "")
    done = await browser.post(client, "/account/two-factor", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    codes = CODES.findall(done.text)
    return secret, codes


@pytest.fixture
async def enrolled(client, make_user):
    user = await make_user(None, None)
    browser = await signed_in(client, user["email"], user["password"])
    secret, codes = await enrol(client, browser)
    return {**user, "secret": secret, "codes": codes, "browser": browser}


async def password_step(client, email: str, password: str, lang: str | None = None):
    visitor = await anonymous(client)
    visitor.lang = lang
    response = await visitor.post(client, "/login", {"email": email, "password": password,
                                                     "next": "/account"})
    return visitor, response


async def code_step(client, visitor, first, code: str):
    """The second page of a login: the challenge cookie of the first answer, and the code."""
    challenge = first.cookies.get("fieldsurvey_login")
    assert challenge, first.headers
    return await visitor.post(client, "/login/code", {"code": code, "next": "/account"},
                              headers={"Cookie": visitor.cookies() + f"; fieldsurvey_login={challenge}"})


async def test_setting_up_shows_a_qr_code_of_the_key_and_ten_recovery_codes_kept_hashed(
        client, pool, make_user) -> None:
    import zxingcpp
    from PIL import Image

    user = await make_user(None, None)
    browser = await signed_in(client, user["email"], user["password"])
    account = await browser.get(client, "/account")
    assert 'id="two-factor-start"' in account.text
    page = await browser.get(client, "/account/two-factor")
    secret = KEY.search(page.text).group(1).replace(" ", "")
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page.text).group(1))
    uri = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parse_qs(parts.query)["secret"] == [secret] and user["email"] in unquote(parts.path)
    # the page again shows the same key (a QR code already scanned stays good)
    again = await browser.get(client, "/account/two-factor")
    assert KEY.search(again.text).group(1).replace(" ", "") == secret
    wrong = await browser.post(client, "/account/two-factor", {"code": "000000"
                               if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 401 and 'id="totp-key"' in wrong.text
    assert await pool.fetchval("SELECT confirmed_at FROM user_totp WHERE actor_id = $1",
                               user["id"]) is None
    done = await browser.post(client, "/account/two-factor", {"code": pyotp.TOTP(secret).now()})
    codes = CODES.findall(done.text)
    assert len(set(codes)) == 10 and all(len(c) == 19 for c in codes)
    stored = await pool.fetch("SELECT code_hash FROM user_recovery_codes WHERE actor_id = $1",
                              user["id"])
    assert len(stored) == 10
    dump = b"".join(bytes(r["code_hash"]) for r in stored)
    assert not any(c.replace("-", "").encode() in dump for c in codes)
    account = await browser.get(client, "/account")
    assert 'id="two-factor-disable"' in account.text and "10 recovery codes left" in account.text
    assert await pool.fetchval(
        "SELECT count(*) FROM audits WHERE action = 'user.two_factor.enable' AND acted_on = $1",
        f"user/{user['id']}") == 1


async def test_the_login_page_asks_for_the_code_then_a_recovery_code_each_once(
        client, pool, enrolled) -> None:
    user = enrolled
    visitor, first = await password_step(client, user["email"], user["password"])
    assert first.status_code == 303 and first.headers["location"].startswith("/login/code")
    assert SESSION_COOKIE not in first.headers.get("set-cookie", "")  # no session yet
    # the half-done login is kept as the hash of its cookie, never the token itself
    assert bytes(await pool.fetchval("SELECT token_hash FROM login_challenges WHERE actor_id = $1",
                                     user["id"])) == token_hash(first.cookies["fieldsurvey_login"])
    # the code page, in Russian, refuses a wrong code
    visitor.lang = "ru"
    wrong = await code_step(client, visitor, first, "123456" if later_code(user["secret"]) != "123456"
                            else "654321")
    assert wrong.status_code == 401 and "Код неверный" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    code = later_code(user["secret"])
    right = await code_step(client, visitor, first, code)
    assert right.status_code == 303 and right.headers["location"] == "/account"
    session = right.cookies.get(SESSION_COOKIE)
    assert session
    # the challenge is used up; the same code in a new login is refused (replay)
    assert (await code_step(client, visitor, first, code)).status_code == 401
    visitor, first = await password_step(client, user["email"], user["password"])
    assert (await code_step(client, visitor, first, code)).status_code == 401
    # and a code older than the one accepted too
    assert (await code_step(client, visitor, first, pyotp.TOTP(user["secret"]).now())).status_code == 401
    # a recovery code logs in once, typed in capitals and without dashes
    recovery = user["codes"][0]
    used = await code_step(client, visitor, first, recovery.replace("-", " ").upper())
    assert used.status_code == 303 and used.cookies.get(SESSION_COOKIE)
    visitor, first = await password_step(client, user["email"], user["password"])
    assert (await code_step(client, visitor, first, recovery)).status_code == 401
    factors = [row["details"]["factor"] for row in await pool.fetch(
        "SELECT details FROM audits WHERE action = 'user.session.create' AND acted_on = $1 "
        "AND details ? 'factor' ORDER BY id", f"user/{user['id']}")]
    assert factors[-2:] == ["totp", "recovery"]
    left = await pool.fetchval("SELECT count(*) FROM user_recovery_codes WHERE actor_id = $1 "
                               "AND used_at IS NULL", user["id"])
    assert left == 9


async def test_wrong_codes_are_throttled_with_wrong_passwords(client, enrolled, limits) -> None:
    limits(login_account_limit=3)
    user = enrolled
    visitor, first = await password_step(client, user["email"], user["password"])
    for guess in ("000001", "000002", "000003"):
        if guess == later_code(user["secret"]):
            continue
        assert (await code_step(client, visitor, first, guess)).status_code == 401
    # the right code does not help now; nor the password, on the pages or REST
    locked = await code_step(client, visitor, first, later_code(user["secret"]))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "Too many failed logins" in locked.text
    rest = await client.post("/v1/sessions", json={"email": user["email"], "password": user["password"],
                                                   "code": later_code(user["secret"])})
    assert rest.status_code == 429 and rest.json()["slug"] == "login-throttled"


async def test_sessions_api_needs_the_code_for_an_account_with_two_factor(client, enrolled) -> None:
    user = enrolled
    body = {"email": user["email"], "password": user["password"]}
    missing = await client.post("/v1/sessions", json=body, headers={"Accept-Language": "en"})
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    problem = missing.json()
    assert problem["slug"] == "second-factor-required" and problem["code"] == 401.2
    assert "code" in problem["detail"]
    wrong = await client.post("/v1/sessions", json={**body, "code": "12345x"})
    assert wrong.status_code == 401 and wrong.json()["slug"] == "second-factor-failed"
    code = later_code(user["secret"])
    token = await client.post("/v1/sessions", json={**body, "code": code})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert (await client.get("/v1/users/current", headers=headers)).status_code == 200
    replay = await client.post("/v1/sessions", json={**body, "code": code})
    assert replay.status_code == 401 and replay.json()["slug"] == "second-factor-failed"
    recovery = await client.post("/v1/sessions", json={**body, "code": user["codes"][1]})
    assert recovery.status_code == 200
    again = await client.post("/v1/sessions", json={**body, "code": user["codes"][1]})
    assert again.status_code == 401
    # the password alone over HTTP Basic is refused on REST, with what to do instead
    over_basic = await client.get(f"{HTTPS}/v1/users/current",
                                  headers=basic(user["email"], user["password"]))
    assert over_basic.status_code == 401 and over_basic.json()["slug"] == "second-factor-required"
    assert "POST /v1/sessions" in over_basic.json()["detail"]


async def test_collects_digest_and_basic_logins_are_not_concerned(client, make_user,
                                                                  default_project_id) -> None:
    """OpenRosa (Collect) checks the password only, as before, even for an account with
    two-factor login; REST over Basic does not."""
    user = await make_user("collector", default_project_id)
    browser = await signed_in(client, user["email"], user["password"])
    await enrol(client, browser)
    over_digest = await digest(client, default_project_id, user["email"], user["password"], 1)
    assert over_digest.status_code == 200, over_digest.text
    form_list = f"{HTTPS}/v1/projects/{default_project_id}/formList"
    over_basic = await client.get(form_list, headers={**OPENROSA, **basic(user["email"], user["password"])})
    assert over_basic.status_code == 200, over_basic.text
    rest = await client.get(f"{HTTPS}/v1/projects/{default_project_id}/forms",
                            headers=basic(user["email"], user["password"]))
    assert rest.status_code == 401 and rest.json()["slug"] == "second-factor-required"


async def test_accounts_without_two_factor_log_in_as_before(client, make_user,
                                                           default_project_id) -> None:
    user = await make_user("collector", default_project_id)
    plain = await client.post("/v1/sessions", json={"email": user["email"],
                                                    "password": user["password"]})
    assert plain.status_code == 200  # pyodk's flow: email and password
    over_basic = await client.get(f"{HTTPS}/v1/users/current",
                                  headers=basic(user["email"], user["password"]))
    assert over_basic.status_code == 200
    unknown = await client.post("/v1/sessions", json={"email": user["email"],
                                                      "password": user["password"], "otp": "1"})
    assert unknown.status_code == 400  # an unknown field is still refused


async def test_require_2fa_sends_managers_to_set_it_up_before_anything_else(
        client, pool, make_user, default_project_id, limits) -> None:
    manager = await make_user("manager", default_project_id)  # (its token from before)
    researcher = await make_user("researcher", default_project_id)
    limits(require_2fa="managers")
    # REST: no token until it is set up; a researcher is not concerned
    refused = await client.post("/v1/sessions", json={"email": manager["email"],
                                                      "password": manager["password"]})
    assert refused.status_code == 403 and refused.json()["slug"] == "second-factor-setup-required"
    assert (await client.get("/v1/users/current", headers=manager["headers"])).status_code == 200
    assert (await client.post("/v1/sessions", json={"email": researcher["email"],
                                                    "password": researcher["password"]})).status_code == 200
    over_basic = await client.get(f"{HTTPS}/v1/users/current",
                                  headers=basic(manager["email"], manager["password"]))
    assert over_basic.status_code == 403 and over_basic.json()["slug"] == "second-factor-setup-required"
    # pages: the password leads to setting it up, with no session meanwhile
    visitor, first = await password_step(client, manager["email"], manager["password"], "tg")
    assert first.status_code == 303 and first.headers["location"].startswith("/login/setup")
    assert not first.cookies.get(SESSION_COOKIE)
    cookie = {"Cookie": visitor.cookies() + f"; fieldsurvey_login={first.cookies['fieldsurvey_login']}"}
    setup = await client.get(first.headers["location"], headers={**cookie, "Accept": "text/html"})
    client.cookies.clear()
    assert setup.status_code == 200 and "Ин сервер барои ҳисоби шумо" in setup.text
    secret = KEY.search(setup.text).group(1).replace(" ", "")
    # a code challenge cookie does not open the setup, nor the other way round
    assert (await visitor.post(client, "/login/code", {"code": "000000"}, headers=cookie)).status_code == 401
    done = await visitor.post(client, "/login/setup", {"code": pyotp.TOTP(secret).now(),
                                                       "next": "/account"}, headers=cookie)
    assert done.status_code == 200 and len(CODES.findall(done.text)) == 10
    assert done.cookies.get(SESSION_COOKIE)
    assert 'href="/account"' in done.text
    # set up: a code is needed from now on, and it cannot be turned off while required
    assert (await client.post("/v1/sessions", json={"email": manager["email"],
                                                    "password": manager["password"]})).json()["slug"] \
        == "second-factor-required"
    browser = await signed_in_with_code(client, manager, secret)
    account = await browser.get(client, "/account")
    assert 'id="two-factor-disable"' not in account.text
    off = await browser.post(client, "/account/two-factor/disable", {"code": later_code(secret, 1)})
    assert off.status_code == 403
    assert await pool.fetchval("SELECT confirmed_at FROM user_totp WHERE actor_id = $1",
                               manager["id"]) is not None


async def signed_in_with_code(client, user: dict, secret: str):
    visitor, first = await password_step(client, user["email"], user["password"])
    done = await code_step(client, visitor, first, later_code(secret))
    assert done.status_code == 303, done.text
    visitor.session = done.cookies.get(SESSION_COOKIE)
    visitor.csrf = done.cookies.get("fieldsurvey_csrf") or visitor.csrf
    return visitor


async def test_turning_it_off_and_new_recovery_codes_need_a_current_code(client, pool, enrolled) -> None:
    user = enrolled
    browser = user["browser"]
    refused = await browser.post(client, "/account/two-factor/disable", {"code": "99999x"})
    assert refused.status_code == 401
    fresh = await browser.post(client, "/account/two-factor/recovery-codes",
                               {"code": later_code(user["secret"])})
    new_codes = CODES.findall(fresh.text)
    assert fresh.status_code == 200 and len(new_codes) == 10 and not set(new_codes) & set(user["codes"])
    old = await client.post("/v1/sessions", json={"email": user["email"], "password": user["password"],
                                                  "code": user["codes"][0]})
    assert old.status_code == 401  # the old codes are gone
    off = await browser.post(client, "/account/two-factor/disable", {"code": new_codes[0]})
    assert off.status_code == 303 and off.headers["location"] == "/account?saved=2fa-off"
    assert await pool.fetchval("SELECT count(*) FROM user_totp WHERE actor_id = $1", user["id"]) == 0
    assert await pool.fetchval("SELECT count(*) FROM user_recovery_codes WHERE actor_id = $1",
                               user["id"]) == 0
    plain = await client.post("/v1/sessions", json={"email": user["email"], "password": user["password"]})
    assert plain.status_code == 200


async def test_an_admin_resets_a_lost_device_on_the_pages_and_the_operator_with_the_cli(
        client, pool, make_user, database_url, data_dir) -> None:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    lost = []
    for _ in range(2):
        user = await make_user(None, None)
        browser = await signed_in(client, user["email"], user["password"])
        user["secret"], _codes = await enrol(client, browser)
        user["browser"] = browser
        lost.append(user)
    admin = await signed_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await admin.get(client, f"/admin/users/{lost[0]['id']}")
    assert 'id="two-factor-reset"' in page.text
    # not for anyone else than an administrator
    assert (await lost[1]["browser"].post(client, f"/admin/users/{lost[0]['id']}/two-factor/reset")
            ).status_code == 403
    reset = await admin.post(client, f"/admin/users/{lost[0]['id']}/two-factor/reset")
    assert reset.status_code == 200 and 'id="two-factor-reset"' not in reset.text
    # the user's sessions ended; the password alone logs in again (the server does not require it)
    assert (await lost[0]["browser"].get(client, "/account")).status_code == 303
    assert (await client.post("/v1/sessions", json={"email": lost[0]["email"],
                                                    "password": lost[0]["password"]})).status_code == 200
    admin_id = await pool.fetchval("SELECT actor_id FROM users WHERE email = $1", ADMIN_EMAIL)
    row = await pool.fetchrow("SELECT actor_id, details FROM audits WHERE action = 'user.two_factor.reset' "
                              "AND acted_on = $1", f"user/{lost[0]['id']}")
    assert row["actor_id"] == admin_id and row["details"] == {"wasOn": True}
    # the operator at the server, by email
    result = run_cli(["user", "reset-2fa", "--email", lost[1]["email"].upper()], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    assert "reset" in result.stdout
    assert await pool.fetchval("SELECT count(*) FROM user_totp WHERE actor_id = $1", lost[1]["id"]) == 0
    assert await pool.fetchval("SELECT actor_id IS NULL FROM audits WHERE action = 'user.two_factor.reset' "
                               "AND acted_on = $1", f"user/{lost[1]['id']}")
    unknown = run_cli(["user", "reset-2fa", "--email", "nobody@test.example"], database_url, data_dir)
    assert unknown.returncode == 1 and "no active user" in unknown.stderr


async def test_an_expired_login_challenge_is_refused(client, pool, enrolled) -> None:
    user = enrolled
    visitor, first = await password_step(client, user["email"], user["password"])
    await pool.execute("UPDATE login_challenges SET expires_at = now() - interval '1 second' "
                       "WHERE actor_id = $1", user["id"])
    late = await code_step(client, visitor, first, later_code(user["secret"]))
    assert late.status_code == 401 and not late.cookies.get(SESSION_COOKIE)
    assert "took too long" in late.text

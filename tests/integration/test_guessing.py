"""Password guessing over Digest and Basic (hardening, third round): counted in the same
throttle as /login and POST /v1/sessions; throttled by account and address together, so the
owner's address is not locked out by guessing from elsewhere; a remembered Basic login is
forgotten on deactivation and password reset."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from api.auth import Actor, check_throttle, record_failure
from api.problems import Problem
from api.services import users as users_service
from db import audits
from tests.conftest import ADMIN_EMAIL
from tests.integration.test_hostile_input import _digest_header

OPENROSA = {"X-OpenRosa-Version": "1.0"}
HTTPS = "https://testserver.local"  # Basic is taken over HTTPS only


@pytest.fixture
def limits(client):
    state = client.app.state
    original = state.settings

    def apply(**values):
        state.settings = replace(original, **values)

    yield apply
    state.settings = original


def basic(email: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


async def digest(client, pid: int, email: str, password: str, nc: int):
    path = f"/v1/projects/{pid}/formList"
    challenge = (await client.get(path, headers=OPENROSA)).headers["WWW-Authenticate"]
    header = _digest_header(email, password, "GET", path, challenge, nc)
    return await client.get(path, headers={**OPENROSA, "Authorization": header})


async def test_digest_guesses_are_counted_and_throttled(client, make_user, default_project_id,
                                                        limits):
    limits(login_account_limit=3)
    user = await make_user("collector", default_project_id)
    for nc in range(1, 4):
        wrong = await digest(client, default_project_id, user["email"], "guess", nc)
        assert wrong.status_code == 401, wrong.text
    right = await digest(client, default_project_id, user["email"], user["password"], 4)
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0, right.text
    assert right.headers["content-type"].startswith("text/xml")  # the message Collect shows
    session = await client.post("/v1/sessions", json={"email": user["email"],
                                                      "password": user["password"]})
    assert session.status_code == 429  # one count for every way in


async def test_an_account_throttled_on_sessions_is_throttled_over_digest_and_basic(
        client, make_user, default_project_id, limits):
    limits(login_account_limit=3)
    user = await make_user("collector", default_project_id)
    for _ in range(3):
        wrong = await client.post("/v1/sessions", json={"email": user["email"], "password": "x"})
        assert wrong.status_code == 401
    over_digest = await digest(client, default_project_id, user["email"], user["password"], 1)
    assert over_digest.status_code == 429, over_digest.text
    over_basic = await client.get(f"{HTTPS}/v1/users/current",
                                  headers=basic(user["email"], user["password"]))
    assert over_basic.status_code == 429, over_basic.text


async def test_basic_guesses_are_counted_and_throttled(client, make_user, limits):
    limits(login_account_limit=3)
    user = await make_user(None, None)
    for _ in range(3):
        wrong = await client.get(f"{HTTPS}/v1/users/current", headers=basic(user["email"], "x"))
        assert wrong.status_code == 401, wrong.text
    right = await client.get(f"{HTTPS}/v1/users/current",
                             headers=basic(user["email"], user["password"]))
    assert right.status_code == 429, right.text


async def test_guessing_from_elsewhere_does_not_lock_the_owners_address_out(
        pool, settings, make_user):
    user = await make_user(None, None)
    strict = replace(settings, login_account_limit=3, login_account_total_limit=5,
                     login_address_limit=1000)
    async with pool.acquire() as conn:
        for _ in range(3):
            await record_failure(conn, user["email"], "198.51.100.7", "basic")
        with pytest.raises(Problem) as stopped:
            await check_throttle(conn, user["email"], "198.51.100.7", strict)
        assert stopped.value.slug == "login-throttled"
        # the owner, elsewhere, is not stopped by that address's guessing
        await check_throttle(conn, user["email"], "203.0.113.9", strict)
        # a guess spread over many addresses stops the account for unknown addresses ...
        await audits.log_audit(conn, user["id"], "user.session.create", f"user/{user['id']}",
                               {"ip": "192.0.2.1"})  # the owner logged in from here before
        for n in range(2):
            await record_failure(conn, user["email"], f"198.51.100.{20 + n}",
                                                  "digest")
        with pytest.raises(Problem):
            await check_throttle(conn, user["email"], "203.0.113.50", strict)
        # ... but not from the owner's own address
        await check_throttle(conn, user["email"], "192.0.2.1", strict)


@pytest.mark.parametrize("change", ["reset", "deactivate"])
async def test_a_remembered_basic_login_is_forgotten(client, pool, make_user, change):
    user = await make_user(None, None)
    headers = basic(user["email"], user["password"])
    assert (await client.get(f"{HTTPS}/v1/users/current", headers=headers)).status_code == 200
    async with pool.acquire() as conn:
        admin_id = await conn.fetchval("SELECT actor_id FROM users WHERE email = $1", ADMIN_EMAIL)
        admin = Actor(id=admin_id, type="user", display_name="admin", is_admin=True)
        if change == "reset":
            await users_service.reset_password(conn, admin, user["id"], "a-new-long-password")
        else:
            await users_service.deactivate_user(conn, admin, user["id"])
    again = await client.get(f"{HTTPS}/v1/users/current", headers=headers)
    assert again.status_code == 401, again.text  # within the 10 s it was remembered for

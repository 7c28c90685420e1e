"""Failed logins are throttled per account and per address, on the pages and on
POST /v1/sessions alike (one service: api/services/sessions.py); expired sessions are purged."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from api.auth import token_hash
from tests.pages_client import anonymous


@pytest.fixture
def limits(client):
    """Low limits for this test (the suite's own settings let one address fail often)."""
    state = client.app.state
    original = state.settings

    def apply(**values):
        state.settings = replace(original, **values)

    yield apply
    state.settings = original


async def test_account_is_locked_after_failures_then_429_with_retry_after(client, make_user, limits) -> None:
    limits(login_account_limit=3)
    user = await make_user(None, None)
    for _ in range(3):
        wrong = await client.post("/v1/sessions", json={"email": user["email"], "password": "nope"})
        assert wrong.status_code == 401 and wrong.json()["slug"] == "auth-failed"
    locked = await client.post("/v1/sessions", json={"email": user["email"].upper(), "password": user["password"]},
                               headers={"Accept-Language": "en"})
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    body = locked.json()
    assert body["slug"] == "login-throttled" and body["code"] == 429.99
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 and body["retryAfter"] == int(locked.headers["retry-after"])
    # the page login is locked too, with a page in the user's language
    visitor = await anonymous(client)
    visitor.lang = "ru"
    page = await visitor.post(client, "/login", {"email": user["email"], "password": user["password"]})
    assert page.status_code == 429 and "Слишком много неудачных попыток" in page.text
    assert page.headers["retry-after"] and "fieldsurvey_session" not in page.headers.get("set-cookie", "")
    # another account from the same address still logs in
    other = await make_user(None, None)
    assert (await client.post("/v1/sessions", json={"email": other["email"], "password": other["password"]})).status_code == 200


async def test_address_is_stopped_after_failures_on_many_accounts(client, pool, limits) -> None:
    failed_here = await pool.fetchval(
        "SELECT count(*) FROM audits WHERE action = 'user.session.failed' AND details->>'ip' = 'testclient' "
        "AND logged_at > clock_timestamp() - interval '15 minutes'")
    limits(login_address_limit=failed_here + 4, login_account_limit=100)
    visitor = await anonymous(client)
    for i in range(4):  # four accounts, pages and REST mixed
        email = f"nobody-{uuid.uuid4().hex[:6]}@test.example"
        if i % 2:
            assert (await client.post("/v1/sessions", json={"email": email, "password": "x"})).status_code == 401
        else:
            assert (await visitor.post(client, "/login", {"email": email, "password": "x"})).status_code == 401
    stopped = await client.post("/v1/sessions", json={"email": "admin@test.example", "password": "whatever"})
    assert stopped.status_code == 429 and stopped.json()["slug"] == "login-throttled"
    page = await visitor.post(client, "/login", {"email": "someone@test.example", "password": "x"})
    assert page.status_code == 429 and "Too many failed logins" in page.text


async def test_expired_sessions_are_purged_on_login(client, pool, make_user) -> None:
    user = await make_user(None, None)
    stale = token_hash(f"stale-{uuid.uuid4().hex}")
    await pool.execute("INSERT INTO sessions (token_hash, actor_id, expires_at) VALUES ($1, $2, $3)",
                       stale, user["id"], datetime.now(UTC) - timedelta(minutes=1))
    response = await client.post("/v1/sessions", json={"email": user["email"], "password": user["password"]})
    assert response.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE token_hash = $1", stale) == 0
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE expires_at <= now()") == 0

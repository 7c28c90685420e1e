"""Two app servers on one database share what a request may need from the other: the CSRF
secret (a login form served by one and posted to the other), sessions, login throttling and
Digest nonces. The second server is a second app instance on the same database, in process
(tests/production/ does the same with processes behind Caddy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.pages.web import SESSION_COOKIE
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.integration.test_hostile_input import _digest_header
from tests.pages_client import anonymous

OPENROSA = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture(scope="module")
async def other(settings) -> AsyncIterator[AsyncTestClient]:
    """A second app server on the same database (its own process state: a new app)."""
    async with AsyncTestClient(app=create_app(settings), timeout=60) as test_client:
        yield test_client


async def test_login_form_of_one_server_is_accepted_by_the_other(client, other) -> None:
    visitor = await anonymous(client)  # the form and its CSRF cookie from the first
    signed = await visitor.post(other, "/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert signed.status_code == 303, signed.text
    visitor.session = signed.cookies.get(SESSION_COOKIE)
    # the session made by the second is good on the first, and its forms on the second
    assert (await visitor.get(client, "/dashboard")).status_code == 200
    assert (await visitor.post(other, "/logout")).status_code == 303
    assert (await visitor.get(client, "/dashboard")).status_code == 303  # logged out on both
    # a forged token is refused by both
    visitor.csrf = visitor.csrf[:-4] + "0000"
    for server in (client, other):
        refused = await visitor.post(server, "/login", {"email": ADMIN_EMAIL, "password": "x"})
        assert refused.status_code == 403


async def test_failed_logins_count_on_every_server(client, other, make_user) -> None:
    user = await make_user(None, None)
    for server in (other, client):
        server.app.state.settings = replace(server.app.state.settings, login_account_limit=2)
    try:
        for server in (client, other):
            wrong = await server.post("/v1/sessions", json={"email": user["email"], "password": "nope"})
            assert wrong.status_code == 401
        for server in (client, other):
            locked = await server.post(
                "/v1/sessions", json={"email": user["email"], "password": user["password"]})
            assert locked.status_code == 429, locked.text
    finally:
        for server in (other, client):
            server.app.state.settings = replace(
                server.app.state.settings, login_account_limit=100_000)


async def test_digest_nonce_of_one_server_is_good_once_on_any(client, other, make_user,
                                                              default_project_id) -> None:
    collector = await make_user("collector", default_project_id)
    path = f"/v1/projects/{default_project_id}/formList"
    challenge = (await client.get(path, headers=OPENROSA)).headers["WWW-Authenticate"]
    header = _digest_header(collector["email"], collector["password"], "GET", path, challenge, 1)
    answered = await other.get(path, headers={**OPENROSA, "Authorization": header})
    assert answered.status_code == 200, answered.text
    for server in (client, other):  # the same count again: a replay, on either server
        replayed = await server.get(path, headers={**OPENROSA, "Authorization": header})
        assert replayed.status_code == 401


async def test_the_csrf_cookie_is_secure_over_https(settings) -> None:
    """Over HTTPS (a trusted proxy's X-Forwarded-Proto makes the scheme https) the CSRF cookie
    is Secure, as the session cookie, without FIELDSURVEY_PUBLIC_URL; over HTTP it is not."""
    assert settings.public_url is None
    app = create_app(settings)
    for base, secure in (("https://survey.example", True), ("http://survey.example", False)):
        async with AsyncTestClient(app=app, base_url=base, timeout=60) as browser:
            page = await browser.get("/login")
            (cookie,) = [c for c in page.headers.get_list("set-cookie")
                         if c.startswith("fieldsurvey_csrf=")]
            assert ("Secure" in cookie) is secure, cookie

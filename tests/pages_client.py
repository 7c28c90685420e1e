"""Driving the pages in-process like a browser without JavaScript: the CSRF cookie and form
field, the session cookie. The test client is shared by the whole session, so these helpers
send cookies explicitly and leave none on it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from api.pages.web import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


@dataclass
class Browser:
    """One person's cookies: the CSRF cookie, the session (None: anonymous), the language."""

    csrf: str
    session: str | None = None
    lang: str | None = None

    def cookies(self) -> str:
        parts = [f"{CSRF_COOKIE}={self.csrf}"]
        if self.session:
            parts.append(f"{SESSION_COOKIE}={self.session}")
        if self.lang:
            parts.append(f"fieldsurvey_lang={self.lang}")
        return "; ".join(parts)

    async def get(self, client, path: str, **headers):
        headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", **headers}
        response = await client.get(path, headers={"Cookie": self.cookies(), **headers},
                                    follow_redirects=False)
        client.cookies.clear()
        return response

    async def post(self, client, path: str, data: dict | None = None, *, csrf: bool = True, **kw):
        form = dict(data or {})
        if csrf:
            form.setdefault(CSRF_FIELD, self.csrf)
        headers = {"Cookie": self.cookies(), **kw.pop("headers", {})}
        response = await client.post(path, data=form, headers=headers, follow_redirects=False, **kw)
        client.cookies.clear()
        return response


async def anonymous(client) -> Browser:
    """A fresh visitor: the login page sets the CSRF cookie and puts the token in the form."""
    client.cookies.clear()
    response = await client.get("/login", follow_redirects=False)
    client.cookies.clear()
    assert response.status_code == 200, response.text
    token = response.cookies.get(CSRF_COOKIE)
    match = CSRF_INPUT.search(response.text)
    assert token and match and match.group(1) == token
    return Browser(csrf=token)


async def signed_in(client, email: str, password: str, next_url: str = "/dashboard") -> Browser:
    browser = await anonymous(client)
    response = await browser.post(client, "/login", {"email": email, "password": password,
                                                     "next": next_url})
    assert response.status_code == 303, response.text
    browser.session = response.cookies.get(SESSION_COOKIE)
    assert browser.session
    browser.csrf = response.cookies.get(CSRF_COOKIE) or browser.csrf  # rotated at login
    return browser

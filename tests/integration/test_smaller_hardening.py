"""The smaller items of the third hardening round: too many parts is 413, the CSRF token is new
after login, e-mail addresses are NFKC with no invisible characters, a ministry's report page
answers 403 as REST does."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest

from api.pages.web import CSRF_COOKIE, SESSION_COOKIE
from tests.pages_client import anonymous, signed_in
from tests.summaries_seed import OPENROSA, screening_project, submission_xml
from tests.xlsforms import XLSX, simple_form

NS_RESPONSE = "{http://openrosa.org/http/response}"


@pytest.fixture(scope="module")
async def project(client, admin_headers, make_user):
    pid = await screening_project(client, admin_headers, f"small-{uuid.uuid4().hex[:6]}")
    other = await client.post(f"/v1/projects/{pid}/forms?publish=true",
                              content=simple_form("other_form"),
                              headers={**admin_headers, "Content-Type": XLSX})
    assert other.status_code == 200, other.text
    return {"pid": pid, "ministry": await make_user("ministry", pid)}


async def test_too_many_files_in_one_upload_is_413(client, admin_headers, project):
    files = [("xml_submission_file", ("s.xml", submission_xml({"consent": "no"}), "text/xml"))]
    files += [(f"f{n}.jpg", (f"f{n}.jpg", b"x", "image/jpeg")) for n in range(2000)]
    sent = await client.post(f"/v1/projects/{project['pid']}/submission", files=files,
                             headers={**admin_headers, **OPENROSA})
    assert sent.status_code == 413, sent.text[:300]
    message = ET.fromstring(sent.content).find(f"{NS_RESPONSE}message")
    assert message.get("nature") == "error" and "Request Entity Too Large" not in message.text


async def test_the_csrf_cookie_is_new_after_login(client, make_user):
    user = await make_user(None, None)
    visitor = await anonymous(client)
    before = visitor.csrf
    response = await visitor.post(client, "/login", {"email": user["email"],
                                                     "password": user["password"]})
    assert response.status_code == 303
    after = response.cookies.get(CSRF_COOKIE)
    assert after and after != before
    session = response.cookies.get(SESSION_COOKIE)
    # the browser now holds the new cookie: a form carrying the token read before login fails
    cookies = f"{CSRF_COOKIE}={after}; {SESSION_COOKIE}={session}"
    stale = await client.post("/language", data={"locale": "ru", "_csrf_token": before},
                              headers={"Cookie": cookies}, follow_redirects=False)
    client.cookies.clear()
    assert stale.status_code == 403
    fresh = await client.post("/language", data={"locale": "ru", "_csrf_token": after},
                              headers={"Cookie": cookies}, follow_redirects=False)
    client.cookies.clear()
    assert fresh.status_code == 303


async def test_email_addresses_are_nfkc_with_nothing_invisible(client, admin_headers):
    tag = uuid.uuid4().hex[:8]
    full_width = f"ｗｉｄｅ-{tag}@test.example"
    made = await client.post("/v1/users", json={"email": full_width,
                                                "password": "a-long-password"},
                             headers=admin_headers)
    assert made.status_code == 200, made.text
    assert made.json()["email"] == f"wide-{tag}@test.example"
    login = await client.post("/v1/sessions", json={"email": full_width,
                                                    "password": "a-long-password"})
    assert login.status_code == 200
    for hidden in (f"a\u200bb-{tag}@test.example", f"ab-{tag}@test\u2060.example",
                   f"\u202eab-{tag}@test.example", f"a b-{tag}@test.example",
                   f"a\u00adb-{tag}@test.example"):
        refused = await client.post("/v1/users", json={"email": hidden,
                                                       "password": "a-long-password"},
                                    headers=admin_headers)
        assert refused.status_code == 400, (hidden, refused.text)


async def test_the_ministry_report_page_answers_403_where_rest_does(client, project):
    ministry = project["ministry"]
    rest = await client.get(f"/v1/projects/{project['pid']}/forms/other_form/report",
                            headers=ministry["headers"])
    assert rest.status_code == 403, rest.text
    browser = await signed_in(client, ministry["email"], ministry["password"])
    page = await browser.get(client, f"/projects/{project['pid']}/data/other_form/report")
    assert page.status_code == 403, page.text[:300]
    # the screening's report is theirs (no publication yet here: REST's 503, not a 403)
    allowed = await browser.get(client, f"/projects/{project['pid']}/data/risk_screening/report")
    rest = await client.get(f"/v1/projects/{project['pid']}/forms/risk_screening/report",
                            headers=ministry["headers"])
    assert allowed.status_code == rest.status_code != 403

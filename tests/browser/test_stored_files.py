"""A planted HTML file or form medium, opened in a real Chromium by a logged-in administrator,
runs no script on our origin (hardening, third round). The planted script would write the
session's cookies into our origin's localStorage; afterwards a page of ours finds nothing there.
Before the fix the edit route and the form-media routes served it as `text/html`, and it ran."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.integration.test_stored_files import FORM_ID, MEDIA, OPENROSA, planted_form, submission
from tests.xlsforms import XLSX


@pytest.fixture(scope="module")
async def planted_site(client, admin_headers, live_server):
    pid = (await client.post("/v1/projects", json={"name": f"planted-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)).json()["id"]
    base = f"/v1/projects/{pid}/forms"
    assert (await client.post(base, content=planted_form(),
                              headers={**admin_headers, "Content-Type": XLSX})).status_code == 200
    for name, (content_type, content) in MEDIA.items():
        await client.post(f"{base}/{FORM_ID}/draft/attachments/{name}", content=content,
                          headers={**admin_headers, "Content-Type": content_type})
    preview = f"/dashboard/projects/{pid}/forms/{FORM_ID}/preview/attachments"
    assert (await client.post(f"{base}/{FORM_ID}/draft/publish", headers=admin_headers)).status_code == 200
    # a new draft (as Central: a copy of the published version, its media carried over)
    drafted = await client.post(f"{base}/{FORM_ID}/draft", headers=admin_headers)
    assert drafted.status_code == 200, drafted.text
    link = (await client.post(f"{base}/{FORM_ID}/public-links", json={"displayName": "kiosk"},
                              headers=admin_headers)).json()
    instance = f"uuid:{uuid.uuid4()}"
    sent = await client.post(
        f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
        files={"xml_submission_file": ("s.xml", submission(instance, "x.html"), "text/xml"),
               "x.html": ("x.html", MEDIA["evil.html"][1], "text/html")})
    assert sent.status_code == 201, sent.text
    one = f"/projects/{pid}/forms/{FORM_ID}/submissions/{quote(instance, safe='')}"
    urls = [f"/dashboard/projects/{pid}/forms/{FORM_ID}/fill/attachments/{name}"
            for name in ("evil.html", "evil.svg", "evil.xml")]
    urls += [f"{preview}/evil.html", f"/f/{link['token']}/attachments/evil.html",
             f"/dashboard{one}/edit/files/x.html", f"{one}/files/x.html"]
    return {"base": live_server.base_url, "urls": urls}


async def test_opening_a_planted_file_runs_no_script(browser, planted_site) -> None:
    base = planted_site["base"]
    context = await browser.new_context(accept_downloads=True)
    try:
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await page.fill("input[name=email]", ADMIN_EMAIL)
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        async with page.expect_navigation():
            await page.click("main button[type=submit]")
        opened = []
        for url in planted_site["urls"]:
            tab = await context.new_page()
            try:
                async with tab.expect_download(timeout=10_000) as download:
                    try:
                        await tab.goto(f"{base}{url}")
                    except Exception as error:  # a download aborts the navigation, as it should
                        assert "Download is starting" in str(error) or "ERR_ABORTED" in str(error)
                opened.append((url, (await download.value).suggested_filename))
            finally:
                await tab.close()
        assert len(opened) == len(planted_site["urls"]), opened
        await page.goto(f"{base}/dashboard")
        assert await page.evaluate("localStorage.getItem('pwned')") is None
    finally:
        await context.close()

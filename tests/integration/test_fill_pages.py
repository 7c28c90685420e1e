"""The browser-filling pages without a browser: who may open them, their Content-Security-
Policy, the XForm served in the page's language, public link pages (unknown, revoked, used
once), no English left on the Russian and Tajik pages, and a draft's test submissions deleted
when it is published."""

from __future__ import annotations

import uuid

import pytest

from api.storage import blob_key
from api.storage.local import LocalAttachmentStore
from forms.schema import parse_xform
from tests.instances import instance_xml
from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import anonymous, signed_in
from tests.summaries_seed import screening_project, submission_xml
from tests.xlsforms import XLSX, photo_and_signature_form


@pytest.fixture(scope="module")
async def site(client, admin_headers, make_user):
    pid = await screening_project(client, admin_headers, name=f"fill-{uuid.uuid4().hex[:6]}")
    users = {role: await make_user(role, pid) for role in ("manager", "ministry", "collector")}
    return {"pid": pid, "users": users}


async def as_user(client, site, role: str, lang: str | None = None):
    user = site["users"][role]
    browser = await signed_in(client, user["email"], user["password"])
    browser.lang = lang
    return browser


async def test_who_may_open_the_fill_pages(client, site) -> None:
    pid = site["pid"]
    fill = f"/dashboard/projects/{pid}/forms/risk_screening/fill"
    visitor = await anonymous(client)
    assert (await visitor.get(client, fill)).status_code == 303  # to /login
    ministry = await as_user(client, site, "ministry")
    assert (await ministry.get(client, fill)).status_code == 403
    assert (await ministry.get(client, f"/dashboard/projects/{pid}/fill")).status_code == 403
    collector = await as_user(client, site, "collector")
    listed = await collector.get(client, f"/dashboard/projects/{pid}/fill")
    assert listed.status_code == 200 and 'data-form="risk_screening"' in listed.text
    assert "public-links" not in listed.text  # managers only
    page = await collector.get(client, fill)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "'unsafe-eval'" not in csp
    assert 'data-submit-url="/dashboard/projects/' in page.text and "<script>" not in page.text
    for path in ("preview", "public-links"):
        response = await collector.get(client, f"/dashboard/projects/{pid}/forms/risk_screening/{path}")
        assert response.status_code == 403, path
    manager = await as_user(client, site, "manager")
    no_draft = await manager.get(client, f"/dashboard/projects/{pid}/forms/risk_screening/preview")
    assert no_draft.status_code == 404


@pytest.mark.parametrize("lang", ["en", "ru", "tg"])
async def test_the_form_opens_in_the_page_language(client, site, lang) -> None:
    collector = await as_user(client, site, "collector", lang)
    xml = await collector.get(
        client, f"/dashboard/projects/{site['pid']}/forms/risk_screening/fill/form.xml")
    assert xml.status_code == 200
    assert parse_xform(xml.text).default_language.endswith(f"({lang})")


@pytest.mark.parametrize("lang", ["ru", "tg"])
async def test_fill_pages_have_no_english(client, site, pool, lang) -> None:
    pid = site["pid"]
    manager = await as_user(client, site, "manager", lang)
    created = await manager.post(client, f"/dashboard/projects/{pid}/forms/risk_screening/public-links",
                                 {"display_name": "Desk", "once": "on"})
    assert created.status_code == 303
    links = await manager.get(client, f"/dashboard/projects/{pid}/forms/risk_screening/public-links")
    token = links.text.split("/f/", 1)[1].split('"', 1)[0]
    visitor = await anonymous(client)
    visitor.lang = lang
    pages = {
        "list": await manager.get(client, f"/dashboard/projects/{pid}/fill"),
        "fill": await manager.get(client, f"/dashboard/projects/{pid}/forms/risk_screening/fill"),
        "links": links,
        "public": await visitor.get(client, f"/f/{token}"),
        "unknown link": await visitor.get(client, "/f/no-such-token"),
    }
    typed = [r["title"] for r in await pool.fetch("SELECT DISTINCT title FROM form_defs")]
    typed += [r["display_name"] for r in await pool.fetch("SELECT display_name FROM actors")]
    for name, page in pages.items():
        assert f'<html lang="{lang}">' in page.text, name
        assert_no_english(page.text, f"{lang} {name}", typed)
    assert pages["unknown link"].status_code == 404


async def test_public_link_pages_and_submissions(client, site, admin_headers) -> None:
    pid = site["pid"]
    base = f"/v1/projects/{pid}/forms/risk_screening/public-links"
    link = (await client.post(base, json={"displayName": "Kiosk", "once": True},
                              headers=site["users"]["manager"]["headers"])).json()
    visitor = await anonymous(client)
    page = await visitor.get(client, f"/f/{link['token']}")
    assert page.status_code == 200 and 'id="once-notice"' in page.text
    xml = submission_xml({"consent": "no"})
    files = {"xml_submission_file": ("s.xml", xml, "text/xml")}
    refused = await visitor.post(client, f"/f/{link['token']}/submission", csrf=False,
                                 files=files)
    assert refused.status_code == 403  # no CSRF token
    sent = await visitor.post(client, f"/f/{link['token']}/submission", csrf=False, files=files,
                              headers={"X-CSRFToken": visitor.csrf})
    assert sent.status_code == 200, sent.text
    once = sent.cookies.get(f"fieldsurvey_link_{link['id']}")
    assert once == "sent"
    visitor_cookies = visitor.cookies() + f"; fieldsurvey_link_{link['id']}=sent"
    again = await client.post(f"/f/{link['token']}/submission", files={
        "xml_submission_file": ("s.xml", submission_xml({"consent": "no"}), "text/xml")},
        headers={"Cookie": visitor_cookies, "X-CSRFToken": visitor.csrf})
    client.cookies.clear()
    assert again.status_code == 409 and again.json()["slug"] == "public-link-used"
    used_page = await client.get(f"/f/{link['token']}", headers={"Cookie": visitor_cookies})
    client.cookies.clear()
    assert used_page.status_code == 409 and 'id="link-closed"' in used_page.text
    await client.delete(f"{base}/{link['id']}", headers=site["users"]["manager"]["headers"])
    other = await anonymous(client)
    revoked = await other.get(client, f"/f/{link['token']}")
    assert revoked.status_code == 403 and 'id="link-closed"' in revoked.text
    late = await other.post(client, f"/f/{link['token']}/submission", csrf=False, files={
        "xml_submission_file": ("s.xml", submission_xml({"consent": "no"}), "text/xml")},
        headers={"X-CSRFToken": other.csrf})
    assert late.status_code == 403 and late.json()["slug"] == "public-link-revoked"


@pytest.mark.parametrize("via", ["rest", "page"])
async def test_publishing_a_draft_deletes_its_test_submissions_and_their_files(
        client, site, pool, settings, via) -> None:
    """As Central: what was sent from the preview goes when the draft is published (by REST or
    the coordinator's page), files included; a file whose content a real submission also has
    stays."""
    pid, manager = site["pid"], site["users"]["manager"]
    form = f"draft_purge_{via}"
    workbook = photo_and_signature_form(form)
    api = f"/v1/projects/{pid}/forms/{form}"
    uploaded = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=workbook,
                                 headers={**manager["headers"], "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    assert (await client.post(api + "/draft", headers=manager["headers"])).status_code == 200
    schema = parse_xform((await client.get(api + ".xml", headers=manager["headers"])).text)
    only_draft, shared = uuid.uuid4().bytes * 8, uuid.uuid4().bytes * 8  # unique contents
    store = LocalAttachmentStore(settings.attachments_dir)
    browser = await as_user(client, site, "manager")
    pages = f"/dashboard/projects/{pid}/forms/{form}"

    async def send(what: str, photo: bytes, sign: bytes) -> None:
        xml = instance_xml(schema, {"place": what, "photo": "p.jpg", "sign": "s.png"})
        sent = await browser.post(client, f"{pages}/{what}/submission", csrf=False, files={
            "xml_submission_file": ("s.xml", xml, "text/xml"),
            "p.jpg": ("p.jpg", photo, "image/jpeg"), "s.png": ("s.png", sign, "image/png")},
            headers={"X-CSRFToken": browser.csrf})
        assert sent.status_code == 200, sent.text

    await send("fill", shared, shared)  # data
    await send("preview", only_draft, shared)  # a test of the draft
    form_id = await pool.fetchval(
        "SELECT id FROM forms WHERE project_id = $1 AND xml_form_id = $2", pid, form)
    count = "SELECT count(*) FROM draft_submissions WHERE form_id = $1"
    assert await pool.fetchval(count, form_id) == 1
    assert await store.exists(blob_key(only_draft)) and await store.exists(blob_key(shared))

    if via == "rest":
        published = await client.post(api + "/draft/publish?version=2", headers=manager["headers"])
        assert published.status_code == 200, published.text
    else:
        published = await browser.post(client, f"/projects/{pid}/forms/{form}/draft/publish",
                                       {"version": "2"})
        assert published.status_code == 303, published.text
    assert await pool.fetchval(count, form_id) == 0
    assert not await store.exists(blob_key(only_draft))
    assert await store.exists(blob_key(shared))  # still the real submission's
    listed = (await client.get(api + "/submissions", headers=manager["headers"])).json()
    assert len(listed) == 1  # the data is untouched

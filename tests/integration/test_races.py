"""Races and states (hardening, third round): what two requests at the same moment must not
do, and what an archived project or a public link must never allow."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET

import asyncpg
import pytest

from api.auth import Actor
from api.problems import Problem
from api.services import users as users_service
from db import users as users_db
from db.migrate import apply_migrations
from db.pool import connect
from tests.conftest import _with_database
from tests.pages_client import anonymous
from tests.summaries_seed import OPENROSA, screening_project, submission_xml
from tests.xlsforms import XLSX, simple_form

NS_RESPONSE = "{http://openrosa.org/http/response}"


@pytest.fixture
async def empty_database(server_url):
    """A database of its own with the schema and no user: administrators can be counted."""
    name = f"fieldsurvey_races_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_database(server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield url
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_two_admins_deactivating_each_other_leave_one(empty_database):
    conns = [await connect(empty_database) for _ in range(2)]
    try:
        survivor = await users_db.create_user(conns[0], "first@test.example", None, is_admin=True)
        for round_ in range(6):
            other = await users_db.create_user(conns[0], f"admin{round_}@test.example", None,
                                               is_admin=True)
            a, b = (Actor(r["id"], "user", r["email"], is_admin=True) for r in (survivor, other))

            async def deactivate(conn, actor, target):
                try:
                    await users_service.deactivate_user(conn, actor, target.id)
                    return True
                except Problem as problem:
                    assert problem.status == 403
                    return False

            done = await asyncio.gather(deactivate(conns[0], a, b), deactivate(conns[1], b, a))
            assert sorted(done) == [False, True], round_
            assert await users_db.count_admins(conns[0]) == 1, round_
            survivor = survivor if done[0] else other
    finally:
        for conn in conns:
            await conn.close()


# --- Public links ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def links(client, admin_headers):
    pid = await screening_project(client, admin_headers, f"races-{uuid.uuid4().hex[:6]}")
    return {"pid": pid, "base": f"/v1/projects/{pid}/forms/risk_screening/public-links"}


async def new_link(client, admin_headers, links, *, once: bool) -> dict:
    made = await client.post(links["base"], json={"displayName": "Desk", "once": once},
                             headers=admin_headers)
    assert made.status_code == 200, made.text
    return made.json()


def xml_part(xml: bytes) -> dict:
    return {"xml_submission_file": ("s.xml", xml, "text/xml")}


async def test_a_once_link_takes_exactly_one_submission_however_sent(
        client, admin_headers, links, pool):
    """One submission from each respondent, as Central's single-submission links (one per
    browser), but kept by the server: six parallel sends from one browser store one; Collect
    over OpenRosa (no browser) has one for the link; another browser has its own one."""
    link = await new_link(client, admin_headers, links, once=True)
    visitor = await anonymous(client)
    page_url = f"/f/{link['token']}/submission"
    key_url = f"/v1/key/{link['token']}/projects/{links['pid']}/submission"

    async def by_page(browser):
        xml = submission_xml({"consent": "no"}, instance_id=f"uuid:{uuid.uuid4()}")
        return await browser.post(client, page_url, csrf=False, files=xml_part(xml),
                                  headers={"X-CSRFToken": browser.csrf})

    async def by_openrosa():
        xml = submission_xml({"consent": "no"}, instance_id=f"uuid:{uuid.uuid4()}")
        return await client.post(key_url, files=xml_part(xml), headers=OPENROSA)

    pages = await asyncio.gather(*(by_page(visitor) for _ in range(6)))
    phones = await asyncio.gather(*(by_openrosa() for _ in range(6)))
    for answers in (pages, phones):
        codes = sorted(a.status_code for a in answers)
        assert codes.count(409) == 5 and len([c for c in codes if c in (200, 201)]) == 1, codes
    stored = await pool.fetch("SELECT instance_id FROM submissions WHERE submitter_id = $1",
                              link["id"])
    assert len(stored) == 2
    # a resend of one of them is a duplicate (Collect retries), not a second one
    phone_instance = await pool.fetchval(
        "SELECT instance_id FROM public_link_respondents WHERE link_id = $1 AND respondent = 'openrosa'",
        link["id"])
    again = await client.post(key_url, headers=OPENROSA, files=xml_part(
        submission_xml({"consent": "no"}, instance_id=phone_instance)))
    assert again.status_code in (200, 201, 409), again.text
    assert again.status_code == 409 or b"public-link-used" not in again.content
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE submitter_id = $1",
                               link["id"]) == 2
    # the link's page says it is used in that browser, even without its "sent" cookie
    used = await visitor.get(client, f"/f/{link['token']}")
    assert used.status_code == 409 and 'id="link-closed"' in used.text
    # another browser fills it once
    fresh = await anonymous(client)
    assert (await fresh.get(client, f"/f/{link['token']}")).status_code == 200
    assert [(await by_page(fresh)).status_code for _ in range(2)] == [200, 409]


async def test_a_public_link_cannot_edit_a_submission(client, admin_headers, links, pool):
    link = await new_link(client, admin_headers, links, once=False)
    key_url = f"/v1/key/{link['token']}/projects/{links['pid']}/submission"
    first = f"uuid:{uuid.uuid4()}"
    sent = await client.post(key_url, headers=OPENROSA, files=xml_part(
        submission_xml({"consent": "no"}, instance_id=first)))
    assert sent.status_code == 201, sent.text
    edit = submission_xml({"consent": "yes", "age": "40"}, instance_id=f"uuid:{uuid.uuid4()}",
                          deprecated_id=first)
    refused = await client.post(key_url, headers=OPENROSA, files=xml_part(edit))
    assert refused.status_code == 403, refused.text
    assert "public link cannot edit" in refused.text
    visitor = await anonymous(client)
    by_page = await visitor.post(client, f"/f/{link['token']}/submission", csrf=False,
                                 files=xml_part(edit), headers={"X-CSRFToken": visitor.csrf})
    assert by_page.status_code == 403, by_page.text
    assert await pool.fetchval(
        "SELECT v.edits FROM submissions v WHERE v.instance_id = $1", first) == 0


# --- An archived project --------------------------------------------------------------------


async def test_an_archived_project_is_read_only_with_a_clear_message(client, admin_headers, pool):
    pid = await screening_project(client, admin_headers, f"archived-{uuid.uuid4().hex[:6]}")
    phone = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "p"},
                               headers=admin_headers)).json()
    await client.post(f"/v1/projects/{pid}/forms/risk_screening/assignments/app-user/"
                      f"{phone['id']}", headers=admin_headers)
    link = (await client.post(f"/v1/projects/{pid}/forms/risk_screening/public-links",
                              json={"displayName": "Desk"}, headers=admin_headers)).json()
    kept = f"uuid:{uuid.uuid4()}"
    before = await client.post(f"/v1/key/{phone['token']}/projects/{pid}/submission",
                               headers=OPENROSA, files=xml_part(
                                   submission_xml({"consent": "no"}, instance_id=kept)))
    assert before.status_code == 201, before.text
    archived = await client.patch(f"/v1/projects/{pid}", json={"archived": True},
                                  headers=admin_headers)
    assert archived.status_code == 200 and archived.json()["archived"] is True

    for url in (f"/v1/key/{phone['token']}/projects/{pid}/submission",
                f"/v1/key/{link['token']}/projects/{pid}/submission"):
        sent = await client.post(url, headers=OPENROSA, files=xml_part(
            submission_xml({"consent": "no"}, instance_id=f"uuid:{uuid.uuid4()}")))
        assert sent.status_code == 409, sent.text
        message = ET.fromstring(sent.content).find(f"{NS_RESPONSE}message")
        assert "archived" in message.text and message.get("nature") == "error"
    rest = await client.post(f"/v1/projects/{pid}/submission", headers={
        **admin_headers, **OPENROSA}, files=xml_part(submission_xml({"consent": "no"})))
    assert rest.status_code == 409
    visitor = await anonymous(client)
    page = await visitor.get(client, f"/f/{link['token']}")
    assert page.status_code == 409 and "archived" in page.text
    by_page = await visitor.post(client, f"/f/{link['token']}/submission", csrf=False,
                                 files=xml_part(submission_xml({"consent": "no"})),
                                 headers={"X-CSRFToken": visitor.csrf})
    assert by_page.status_code == 409 and "archived" in by_page.json()["message"]
    upload = await client.post(f"/v1/projects/{pid}/forms?publish=true",
                               content=simple_form("late_form"),
                               headers={**admin_headers, "Content-Type": XLSX})
    assert upload.status_code == 409 and upload.json()["slug"] == "project-archived", upload.text
    draft = await client.post(f"/v1/projects/{pid}/forms/risk_screening/draft",
                              headers=admin_headers)
    assert draft.status_code == 409, draft.text
    forms_base = f"/v1/projects/{pid}/forms/risk_screening"
    for refused in (
        await client.patch(f"{forms_base}/submissions/{kept}", json={"reviewState": "approved"},
                           headers=admin_headers),
        await client.post(f"{forms_base}/submissions/{kept}/comments", json={"body": "x"},
                          headers=admin_headers),
        await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "late"},
                          headers=admin_headers),
        await client.post(f"{forms_base}/public-links", json={"displayName": "late"},
                          headers=admin_headers),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["slug"] == "project-archived"
    # still readable
    assert (await client.get(f"{forms_base}/submissions/{kept}",
                             headers=admin_headers)).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM submissions s JOIN forms f ON "
                               "f.id = s.form_id WHERE f.project_id = $1", pid) == 1

    await client.patch(f"/v1/projects/{pid}", json={"archived": False}, headers=admin_headers)
    sent = await client.post(f"/v1/key/{phone['token']}/projects/{pid}/submission",
                             headers=OPENROSA, files=xml_part(submission_xml({"consent": "no"})))
    assert sent.status_code == 201, sent.text

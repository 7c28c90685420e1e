"""Retention periods with a frozen clock: the run erases exactly what the form's page announced
for that moment, whole or only the sensitive fields (and their photos), a case N months after
it closed; a second run at the same moment erases nothing more."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import pytest

from api.auth import Actor
from api.services import retention
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.integration.test_trash import send
from tests.pages_client import signed_in
from tests.xlsforms import XLSX, xlsx_bytes


def visit_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "sensitive"],
                   ["text", "full_name", "Name", "yes"],
                   ["image", "photo", "Photo", "yes"],
                   ["integer", "age", "Age", ""]],
        "settings": [["form_id", "version"], ["ret_visit", "1"]],
    })


def case_forms() -> list[bytes]:
    return [
        xlsx_bytes({
            "survey": [["type", "name", "label", "save_to"],
                       ["text", "code", "Code", "case_code"],
                       ["text", "status", "Status", "status"]],
            "entities": [["list_name", "label"], ["ret_cases", "${code}"]],
            "settings": [["form_id", "version"], ["ret_intake", "1"]],
        }),
        xlsx_bytes({
            "survey": [["type", "name", "label", "save_to"],
                       ["select_one_from_file ret_cases.csv", "case", "Case", ""],
                       ["text", "status", "Status", "status"]],
            "entities": [["list_name", "entity_id"], ["ret_cases", "${case}"]],
            "settings": [["form_id", "version"], ["ret_followup", "1"]],
        }),
    ]


def visit_xml(iid: str, name: str, photo: str, age: int) -> bytes:
    return (f'<data id="ret_visit" version="1"><full_name>{name}</full_name>'
            f"<photo>{photo}</photo><age>{age}</age><meta><instanceID>{iid}</instanceID>"
            "</meta></data>").encode()


@pytest.fixture
async def project(client, admin_headers) -> int:
    made = await client.post("/v1/projects", json={"name": f"ret-{uuid.uuid4().hex[:8]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    for body in (visit_form(), *case_forms()):
        up = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                               content=body, headers={**admin_headers, "Content-Type": XLSX})
        assert up.status_code == 200, up.text
    return pid


async def admin_actor(pool):
    async with pool.acquire() as conn:
        user = await conn.fetchval("SELECT actor_id FROM users WHERE is_admin ORDER BY 1 LIMIT 1")
    return Actor(id=user, type="user", display_name="admin", is_admin=True)


async def test_sensitive_fields_erased_as_announced(client, admin_headers, pool, project) -> None:
    pid, store = project, client.app.state.attachment_store
    actor = await admin_actor(pool)
    rows = []
    for n, days_ago in enumerate((95, 62, 1)):
        iid, photo = f"uuid:{uuid.uuid4()}", b"\xff\xd8" + uuid.uuid4().bytes
        sent = await send(client, admin_headers, pid,
                          visit_xml(iid, f"Person-{iid[-6:]}", f"p{n}.jpg", 30 + n),
                          {f"p{n}.jpg": photo})
        assert sent.status_code == 201, sent.text
        rows.append((iid, photo, days_ago))
    async with pool.acquire() as conn:
        now = await conn.fetchval("SELECT clock_timestamp()")
        for iid, _, days_ago in rows:
            await conn.execute("UPDATE submissions_all SET created_at = $2 WHERE instance_id = $1",
                               iid, now - timedelta(days=days_ago))
        assert await retention.due_now(conn, actor, pid, "ret_visit", now) == []  # off
        await retention.set_form_retention(conn, actor, pid, "ret_visit", 2, "sensitive")
        announced = await retention.due_now(conn, actor, pid, "ret_visit", now)
    assert [d.instance_id for d in announced] == [rows[0][0], rows[1][0]]
    # the form's retention page lists the same
    # in English: the shared administrator's account holds no language another module saved
    await pool.execute("UPDATE users SET locale = NULL WHERE email = $1", ADMIN_EMAIL)
    admin = await signed_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = await admin.get(client, f"/projects/{pid}/forms/ret_visit/retention")
    assert page.status_code == 200, page.text
    listed = re.findall(r'<a href="[^"]+" class="mono">([^<]+)</a>', page.text)
    assert listed == [d.instance_id for d in announced]
    assert "2 submissions" in page.text

    async with pool.acquire() as conn:
        report = await retention.run_retention(conn, store, now)
    assert (report.fields, report.submissions) == (2, 0)
    base = f"/v1/projects/{pid}/forms/ret_visit/submissions"
    for iid, photo, days_ago in rows:
        got = await client.get(f"{base}/{iid}.xml", headers=admin_headers)
        assert got.status_code == 200
        erased = days_ago > 60
        assert (f"Person-{iid[-6:]}" in got.text) is not erased
        assert f"<age>{30 + rows.index((iid, photo, days_ago))}</age>" in got.text  # kept
        assert await store.exists(hashlib.sha256(photo).hexdigest()) is not erased
    async with pool.acquire() as conn:
        answers = await conn.fetchval(
            "SELECT v.answers FROM submission_versions v WHERE v.instance_id = $1", rows[0][0])
        assert answers["full_name"] is None and answers["photo"] is None and answers["age"] == "30"
        again = await retention.run_retention(conn, store, now)
        assert (again.fields, again.submissions, again.entities) == (0, 0, 0)
        assert await retention.due_now(conn, actor, pid, "ret_visit", now) == []


def intake_xml(eid: str, code: str, iid: str) -> bytes:
    return (f'<data id="ret_intake" version="1"><code>{code}</code><status>open</status>'
            f"<meta><instanceID>{iid}</instanceID>"
            f'<entity dataset="ret_cases" id="{eid}" create="1"><label>{code}</label></entity>'
            "</meta></data>").encode()


def followup_xml(eid: str, iid: str, status: str) -> bytes:
    return (f'<data id="ret_followup" version="1"><case>{eid}</case><status>{status}</status>'
            f"<meta><instanceID>{iid}</instanceID>"
            f'<entity dataset="ret_cases" id="{eid}" update="1" baseVersion="1" '
            'trunkVersion="" branchId=""/></meta></data>').encode()


async def test_a_case_goes_months_after_it_closed(client, admin_headers, pool, project) -> None:
    pid, store = project, client.app.state.attachment_store
    actor = await admin_actor(pool)
    cases = {}
    for name, status in (("closed", "closed"), ("open", "open")):
        eid, ids = str(uuid.uuid4()), [f"uuid:{uuid.uuid4()}" for _ in range(2)]
        for xml in (intake_xml(eid, f"RC-{name}-{eid[:4]}", ids[0]),
                    followup_xml(eid, ids[1], status)):
            sent = await send(client, admin_headers, pid, xml)
            assert sent.status_code == 201, sent.text
        cases[name] = (eid, ids)
    async with pool.acquire() as conn:
        now = await conn.fetchval("SELECT clock_timestamp()")
        # both cases began a year ago; the closed one closed seven months ago
        await conn.execute(
            "UPDATE submissions_all SET created_at = $2 WHERE instance_id = ANY($1::text[])",
            [*cases["closed"][1], *cases["open"][1]], now - timedelta(days=365))
        await conn.execute(
            "UPDATE entity_defs SET created_at = $2 WHERE entity_id = "
            "(SELECT id FROM entities WHERE uuid = $1::uuid) AND version = 2",
            cases["closed"][0], now - timedelta(days=212))
        await retention.set_form_retention(conn, actor, pid, "ret_intake", 6, "whole")
        announced = await retention.due_now(conn, actor, pid, "ret_intake", now)
        assert [d.instance_id for d in announced] == [cases["closed"][1][0]]
        assert announced[0].closed_at is not None
        # a month less than the closure's age: not due
        await retention.set_form_retention(conn, actor, pid, "ret_intake", 8, "whole")
        assert await retention.due_now(conn, actor, pid, "ret_intake", now) == []
        await retention.set_form_retention(conn, actor, pid, "ret_intake", 6, "whole")
        report = await retention.run_retention(conn, store, now)
        assert (report.entities, report.submissions) == (1, 2)
        assert await conn.fetchval("SELECT count(*) FROM entities WHERE uuid = $1::uuid",
                                   cases["closed"][0]) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM submissions_all WHERE instance_id = ANY($1::text[])",
            cases["closed"][1]) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM submissions_all WHERE instance_id = ANY($1::text[])",
            cases["open"][1]) == 2
        assert await conn.fetchval(
            "SELECT count(*) FROM audits WHERE action = 'entity.erase' AND acted_on = $1",
            f"entity/{pid}/ret_cases/{cases['closed'][0]}") == 1
        again = await retention.run_retention(conn, store, now)
        assert (again.fields, again.submissions, again.entities) == (0, 0, 0)

"""The outbox (api/services/events.py): every store path writes its event in the transaction of
the change; one worker hands events to handlers after the commit, in order per record, again
after a failure; alerts reach managers in the app and by email (a real SMTP server, aiosmtpd)
in their language, without personal data in the email; overdue follow-ups (a frozen clock)."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import re
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.services import alerts as alerts_service
from api.services import events as events_service
from db.pool import connect
from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.cases_seed import followup_xml, seed_case
from tests.conftest import _free_port
from tests.instances import instance_xml
from tests.pages_client import signed_in

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
OPENROSA = {"X-OpenRosa-Version": "1.0"}
NO = ("r1_deceived_job", "r2_deceived_conditions", "r3_forced_moved", "x3_dangerous",
      "c2_debt_bondage", "c3_movement_restricted", "c4_violence", "c5_threats", "c6_drugs",
      "c7_illegal_acts", "c8_wages_withheld", "l1_arranged_dependence", "v1_dependent",
      "v2_no_status", "v3_language", "x1_excessive_hours", "x2_no_pay", "c1_documents_taken",
      "situation_ongoing")
BASE = {"consent": "yes", "interview_date": "2026-05-04", "region": "TJ-SU",
        "district": "TJ-SU-KHUJAND", "site_type": "school", "sex": "female", "age": "16",
        "education": "primary", "worked_away": "yes"}
URGENT = {**BASE, "x1_excessive_hours": "yes", "x2_no_pay": "yes", "c1_documents_taken": "yes",
          "situation_ongoing": "yes", "exploitation_type": ["domestic"]}
NORMAL = {**BASE, "age": "30", "worked_away": "no"}


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
async def outbox_client(settings, smtp, client):
    """An app with an outbox worker (the shared one runs none) that emails through the test's
    SMTP server."""
    controller, _ = smtp
    own = dataclasses.replace(
        settings, events_interval_seconds=0.2,
        smtp_url=f"smtp://{controller.hostname}:{controller.port}",
        smtp_from="alerts@test.example", public_url="https://survey.test.example",
    )
    async with AsyncTestClient(app=create_app(own), timeout=60) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def screening_schema():
    compiled = compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(), validate=False)
    return parse_xform(compiled.xform)


def screening(schema, answers) -> tuple[str, bytes]:
    instance = f"uuid:{uuid.uuid4()}"
    full = {name: "no" for name in NO} | answers
    return instance, instance_xml(schema, full, instance_id=instance)


async def wait_for(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.2)


async def handled(pool, instance_id: str) -> bool:
    return await pool.fetchval(
        "SELECT bool_and(e.handled_at IS NOT NULL) FROM events e JOIN submissions s "
        "ON e.subject = 'submission/' || s.id WHERE s.instance_id = $1", instance_id)


async def project_with_manager(client, admin_headers, make_user, pool, locale: str):
    name = f"Outbox {uuid.uuid4().hex[:8]}"
    created = await client.post("/v1/projects", json={"name": name}, headers=admin_headers)
    pid = created.json()["id"]
    body = (LIBRARY / "risk_screening.xlsx").read_bytes()
    sent = await client.post(
        f"/v1/projects/{pid}/forms?publish=true", content=body, headers={
            **admin_headers, "Content-Type":
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "X-XlsForm-FormId-Fallback": "risk_screening"})
    assert sent.status_code == 200, sent.text
    manager = await make_user("manager", pid)
    await pool.execute("UPDATE users SET locale = $2 WHERE actor_id = $1", manager["id"], locale)
    phone = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone"},
                               headers=admin_headers)).json()
    given = await client.post(
        f"/v1/projects/{pid}/forms/risk_screening/assignments/app-user/{phone['id']}",
        headers=admin_headers)
    assert given.status_code == 200, given.text
    return pid, manager, phone


async def test_every_store_path_writes_its_event_in_the_transaction(
        client, admin_headers, default_project_id, screening_schema, pool):
    """OpenRosa writes the submission.create audit row and its event; a review, an edit and
    the entity a submission makes write theirs; a refused submission writes none."""
    pid = default_project_id
    instance, xml = screening(screening_schema, NORMAL)
    sent = await client.post(f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
                             files={"xml_submission_file": ("s.xml", xml, "text/xml")})
    assert sent.status_code == 201, sent.text
    audit = await pool.fetchval(
        "SELECT count(*) FROM audits WHERE action = 'submission.create' AND acted_on = $1",
        f"submission/{pid}/risk_screening/{instance}")
    assert audit == 1
    sub_id = await pool.fetchval("SELECT id FROM submissions WHERE instance_id = $1", instance)
    reviewed = await client.patch(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}",
        json={"reviewState": "hasIssues"}, headers=admin_headers)
    assert reviewed.status_code == 200, reviewed.text
    edit_id = f"uuid:{uuid.uuid4()}"
    edited = instance_xml(screening_schema, {n: "no" for n in NO} | NORMAL | {"age": "31"},
                          instance_id=edit_id, deprecated_id=instance)
    sent = await client.post(f"/v1/projects/{pid}/forms/risk_screening/submissions",
                             content=edited, headers={**admin_headers, "Content-Type": "text/xml"})
    assert sent.status_code in (200, 201), sent.text
    kinds = await pool.fetch(
        "SELECT kind, details FROM events WHERE subject = $1 ORDER BY id", f"submission/{sub_id}")
    assert [k["kind"] for k in kinds] == [
        "submission.created", "submission.reviewed", "submission.updated"]
    assert kinds[1]["details"]["reviewState"] == "hasIssues"
    # the same instanceID with other content is refused (409): no event
    before = await pool.fetchval("SELECT count(*) FROM events")
    clash = instance_xml(screening_schema, {n: "no" for n in NO} | NORMAL | {"age": "44"},
                         instance_id=instance)
    refused = await client.post(f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
                                files={"xml_submission_file": ("s.xml", clash, "text/xml")})
    assert refused.status_code == 409
    assert await pool.fetchval("SELECT count(*) FROM events") == before
    # an intake makes a case entity: entity.created; a follow-up updates it: entity.updated
    project = await client.post("/v1/projects", json={"name": f"Cases {uuid.uuid4().hex[:6]}"},
                                headers=admin_headers)
    seeded = await seed_case(client, pool, admin_headers, project.json()["id"])
    entity_kinds = await pool.fetch(
        "SELECT kind FROM events WHERE subject = $1 ORDER BY id", f"entity/{seeded['case']}")
    assert [k["kind"] for k in entity_kinds] == ["entity.created", "entity.updated", "entity.updated"]


async def test_handlers_get_events_in_order_and_again_after_a_failure(database_url, client):
    """handle_pending: a failing event is retried later and holds back its record's later
    events, while other records go on; nothing is lost or handled twice once it succeeds."""
    conn = await connect(database_url)
    try:
        await conn.execute("UPDATE events SET handled_at = now() WHERE handled_at IS NULL")
        pid = await conn.fetchval("SELECT id FROM projects WHERE name = 'Default'")
        a, b = f"test/{uuid.uuid4()}", f"test/{uuid.uuid4()}"
        async with conn.transaction():
            for subject, n in ((a, 1), (b, 1), (a, 2), (b, 2)):
                await events_service.emit_event(conn, "test.step", pid, subject, details={"n": n})
        seen: list[tuple[str, int]] = []
        fail = {"on": True}

        async def handler(c, events):
            for e in events:
                if e.subject == a and e.details["n"] == 1 and fail["on"]:
                    raise RuntimeError("receiver down")
                seen.append((e.subject, e.details["n"]))

        await events_service.handle_pending(conn, [handler])
        assert seen == [(b, 1), (b, 2)]  # a's first failed: a's second waits for it
        pending = await conn.fetch(
            "SELECT subject, attempts, retry_at IS NOT NULL AS waits FROM events "
            "WHERE handled_at IS NULL ORDER BY id")
        assert [(r["subject"], r["attempts"], r["waits"]) for r in pending] == [(a, 1, True), (a, 0, False)]
        fail["on"] = False
        await events_service.handle_pending(conn, [handler])
        assert seen == [(b, 1), (b, 2)]  # not due yet (backoff)
        await conn.execute("UPDATE events SET retry_at = now() WHERE retry_at IS NOT NULL AND handled_at IS NULL")
        await events_service.handle_pending(conn, [handler])
        assert seen == [(b, 1), (b, 2), (a, 1), (a, 2)]
        assert await conn.fetchval("SELECT count(*) FROM events WHERE handled_at IS NULL") == 0
    finally:
        await conn.close()


async def test_one_worker_across_servers(settings, client, database_url):
    """Two apps on one database: exactly one leads the outbox; when it stops, the other takes
    over."""
    fast = dataclasses.replace(settings, events_interval_seconds=0.1)
    first, second = create_app(fast), create_app(fast)
    async with AsyncTestClient(app=first) as c1:
        await wait_for(lambda: asyncio.sleep(0, c1.app.state.outbox.is_leader), 10)
        async with AsyncTestClient(app=second) as c2:
            await asyncio.sleep(1.0)
            assert c1.app.state.outbox.is_leader and not c2.app.state.outbox.is_leader
            await c1.__aexit__(None, None, None)
            await wait_for(lambda: asyncio.sleep(0, c2.app.state.outbox.is_leader), 10)


async def test_urgent_screening_alerts_the_manager_by_email_in_their_language(
        outbox_client, client, admin_headers, make_user, pool, smtp, screening_schema):
    _, inbox = smtp
    pid, manager, phone = await project_with_manager(client, admin_headers, make_user, pool, "ru")
    instance, xml = screening(screening_schema, URGENT)
    began = time.monotonic()
    sent = await client.post(f"/v1/key/{phone['token']}/projects/{pid}/submission", headers=OPENROSA,
                             files={"xml_submission_file": ("s.xml", xml, "text/xml")})
    assert sent.status_code == 201, sent.text
    mails = await wait_for(lambda: asyncio.sleep(0, inbox.to(manager["email"])), 60)
    assert time.monotonic() - began < 60
    assert len(mails) == 1
    mail = mails[0]
    body = mail.get_content()
    assert "Срочн" in mail["Subject"]  # Russian: the manager's language
    assert "Согд" in body  # the region, in Russian
    link = f"https://survey.test.example/projects/{pid}/forms/risk_screening/submissions/"
    assert link in body
    # no personal data: not the district, the age, the sex, an answer
    # (the link, with the record's instanceID in it, aside: a uuid may hold "16")
    without_link = re.sub(re.escape(link) + r"\S*", "", body)
    for secret in ("KHUJAND", "Худжанд", "16", "female", "domestic"):
        assert secret not in without_link
    # in the app: the count on every page, the list in Russian
    browser = await signed_in(client, manager["email"], manager["password"])
    home = await browser.get(client, "/dashboard")
    assert 'href="/alerts"' in home.text and 'data-unread="1"' in home.text
    page = await browser.get(client, "/alerts")
    assert page.status_code == 200
    assert "Срочн" in page.text and quote(instance, safe="") in page.text
    alert_id = await pool.fetchval("SELECT id FROM alerts WHERE user_id = $1", manager["id"])
    marked = await browser.post(client, f"/alerts/{alert_id}/read")
    assert marked.status_code == 303
    home = await browser.get(client, "/dashboard")
    assert 'data-unread="0"' in home.text
    # a normal screening: handled, and nobody is told
    normal, xml = screening(screening_schema, NORMAL)
    sent = await client.post(f"/v1/key/{phone['token']}/projects/{pid}/submission", headers=OPENROSA,
                             files={"xml_submission_file": ("s.xml", xml, "text/xml")})
    assert sent.status_code == 201
    await wait_for(lambda: handled(pool, normal), 60)
    await asyncio.sleep(1.0)  # the email round after the handling
    assert len(inbox.to(manager["email"])) == 1
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE user_id = $1", manager["id"]) == 1
    # the same screening's events handled again (a restart mid-batch) alert nobody twice
    async with pool.acquire() as conn, conn.transaction():
        events = [events_service.Event.from_row(r) for r in await conn.fetch(
            "SELECT * FROM events WHERE subject = (SELECT 'submission/' || id FROM submissions "
            "WHERE instance_id = $1)", instance)]
        await alerts_service.on_events(conn, events)
    assert await pool.fetchval("SELECT count(*) FROM alerts WHERE user_id = $1", manager["id"]) == 1


async def test_review_alerts_the_web_user_who_submitted(
        outbox_client, client, admin_headers, make_user, pool, smtp, screening_schema):
    _, inbox = smtp
    pid, manager, _ = await project_with_manager(client, admin_headers, make_user, pool, "en")
    collector = await make_user("collector", pid)
    await pool.execute(
        "UPDATE users SET alert_preferences = '{\"review\": {\"app\": true, \"email\": false}}' "
        "WHERE actor_id = $1", collector["id"])
    instance, xml = screening(screening_schema, NORMAL)
    sent = await client.post(f"/v1/projects/{pid}/submission", headers={**collector["headers"], **OPENROSA},
                             files={"xml_submission_file": ("s.xml", xml, "text/xml")})
    assert sent.status_code == 201, sent.text
    reviewed = await client.patch(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}",
        json={"reviewState": "hasIssues"},
        headers={**manager["headers"], "X-Action-Notes": "The age is missing a digit"})
    assert reviewed.status_code == 200, reviewed.text
    row = await wait_for(lambda: pool.fetchrow(
        "SELECT * FROM alerts WHERE user_id = $1 AND kind = 'review'", collector["id"]), 60)
    assert row["details"]["comment"] == "The age is missing a digit"
    assert row["in_app"] and row["email_to"] is None  # email off by the user's choice
    browser = await signed_in(client, collector["email"], collector["password"])
    page = await browser.get(client, "/alerts")
    assert "has issues" in page.text and "The age is missing a digit" in page.text


async def test_overdue_follow_up_with_a_frozen_clock(client, admin_headers, make_user, pool):
    project = await client.post("/v1/projects", json={"name": f"Cases {uuid.uuid4().hex[:6]}"},
                                headers=admin_headers)
    pid = project.json()["id"]
    manager = await make_user("manager", pid)
    seeded = await seed_case(client, pool, admin_headers, pid)  # next contact 2026-06-01

    async def check(day: date) -> int:
        async with pool.acquire() as conn, conn.transaction():
            await alerts_service.check_due_followups(conn, day)
        return await pool.fetchval(
            "SELECT count(*) FROM alerts WHERE user_id = $1 AND kind = 'followup'", manager["id"])

    assert await check(date(2026, 6, 1)) == 0  # due today: not yet passed
    assert await check(date(2026, 6, 2)) == 1
    assert await check(date(2026, 6, 9)) == 1  # never a repeat for the same due date
    row = await pool.fetchrow("SELECT * FROM alerts WHERE user_id = $1", manager["id"])
    assert row["link"] == f"/projects/{pid}/cases/{seeded['case']}"
    assert row["details"] == {"case": seeded["code"], "region": "TJ-SU", "due": "2026-06-01"}
    # a follow-up closes the case: no alert for it any more
    closing = followup_xml(seeded["case"], 3, f"uuid:{uuid.uuid4()}", day="2026-06-10",
                           stage="case_closed")
    sent = await client.post(f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
                             files={"xml_submission_file": ("s.xml", closing, "text/xml")})
    assert sent.status_code == 201, sent.text
    assert await check(date(2026, 7, 1)) == 1

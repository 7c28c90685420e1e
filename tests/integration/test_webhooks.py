"""Webhooks (api/services/webhooks.py): REST and the page; only https:// to public addresses
unless allowed, checked at creation and at delivery; and end to end against a local plain-HTTP
receiver that is down for a while, with the server killed and started again in between: every
event arrives at least once, signed, never before its commit, and the delivery log matches.

The retry schedule is a setting: here the first retry comes after 1 s (doubling), and the
receiver is down for 30 s instead of a minute, to keep the test's wall time reasonable."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.services import events as events_service
from api.services import webhooks as webhook_service
from forms.compile import compile_xlsform
from forms.schema import parse_xform
from tests.conftest import LiveServer, _free_port, login
from tests.instances import instance_xml
from tests.pages_client import signed_in
from tests.xlsforms import XLSX, xlsx_bytes

LIBRARY = Path(__file__).resolve().parents[2] / "forms" / "library"
OPENROSA = {"X-OpenRosa-Version": "1.0"}
SECRET = "a-secret-of-enough-length-" + uuid.uuid4().hex
DOWN_SECONDS = 60
SUBMISSIONS = 500
REVIEWS = 50


class Receiver:
    """A plain-HTTP webhook receiver (uvicorn in the test's event loop) that records each
    delivery with whether its record was committed when it arrived."""

    def __init__(self, pool):
        self.pool = pool
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[dict] = []
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None

    async def app(self, scope, receive, send):
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        payload = json.loads(body)
        committed = await self.committed(payload)
        self.received.append({"headers": headers, "body": body, "payload": payload,
                              "committed": committed, "at": time.monotonic()})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def committed(self, payload) -> bool:
        """Whether what the event tells of is visible to another connection now."""
        if payload["event"] == "submission.created":
            return await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM submissions WHERE instance_id = $1)",
                payload["instanceId"])
        if payload["event"] == "submission.reviewed":
            return await self.pool.fetchval(
                "SELECT review_state = 'approved' FROM submissions WHERE instance_id = $1",
                payload["instanceId"])
        return True

    async def start(self):
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="off", interface="asgi3",
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.05)

    async def stop(self):
        if self.server is not None:
            self.server.should_exit = True
            await self.task


async def make_project(client, admin_headers) -> int:
    created = await client.post("/v1/projects", json={"name": f"Hooks {uuid.uuid4().hex[:8]}"},
                                headers=admin_headers)
    pid = created.json()["id"]
    xform = compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(), validate=False).xform
    sent = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=xform.encode(),
                             headers={**admin_headers, "Content-Type": "application/xml"})
    assert sent.status_code == 200, sent.text
    return pid


async def test_addresses_are_checked_at_creation(client, admin_headers, make_user):
    pid = await make_project(client, admin_headers)
    url = f"/v1/projects/{pid}/webhooks"
    body = {"events": ["submission.created"], "secret": SECRET}
    for refused in ("http://example.org/hook", "https://127.0.0.1/hook", "https://10.1.2.3/x",
                    "https://[::1]/x", "https://169.254.169.254/latest", "https://localhost/x",
                    "https://user:pw@example.org/x", "ftp://example.org/x"):
        response = await client.post(url, json={**body, "url": refused}, headers=admin_headers)
        assert response.status_code == 400, (refused, response.text)
        assert response.json()["code"] == 400.8
    bad = await client.post(url, json={**body, "url": "https://93.184.215.14/x",
                                       "events": ["submission.deleted"]}, headers=admin_headers)
    assert bad.status_code == 400
    short = await client.post(url, json={**body, "url": "https://93.184.215.14/x", "secret": "short"},
                              headers=admin_headers)
    assert short.status_code == 400
    made = await client.post(url, json={**body, "url": "https://93.184.215.14/x"}, headers=admin_headers)
    assert made.status_code == 200, made.text
    listed = (await client.get(url, headers=admin_headers)).json()
    assert [w["url"] for w in listed] == ["https://93.184.215.14/x"]
    assert "secret" not in listed[0]
    researcher = await make_user("researcher", pid)
    assert (await client.get(url, headers=researcher["headers"])).status_code == 403
    gone = await client.delete(f"{url}/{made.json()['id']}", headers=admin_headers)
    assert gone.status_code == 200
    assert (await client.get(url, headers=admin_headers)).json() == []
    assert (await client.delete(f"{url}/{made.json()['id']}", headers=admin_headers)).status_code == 404


async def test_delivery_checks_the_address_again(client, admin_headers, pool, settings):
    """A webhook whose address became private (as by a DNS change after its creation) gets
    nothing when private addresses are not allowed: the sender checks the address it resolved
    and connects only to a checked one."""
    receiver = Receiver(pool)
    await receiver.start()
    try:
        pid = await make_project(client, admin_headers)
        schema = parse_xform(compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(),
                                             validate=False).xform)
        instance = f"uuid:{uuid.uuid4()}"
        sent = await client.post(
            f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
            files={"xml_submission_file": ("s.xml", instance_xml(
                schema, {"consent": "yes", "age": "30"}, instance_id=instance), "text/xml")})
        assert sent.status_code == 201, sent.text
        event = await pool.fetchrow(
            "SELECT e.* FROM events e JOIN submissions s ON e.subject = 'submission/' || s.id "
            "WHERE s.instance_id = $1", instance)
        admin_id = await pool.fetchval("SELECT actor_id FROM users WHERE email = 'admin@test.example'")
        # as if the webhook had been created for a public name that now resolves to 127.0.0.1
        hook = await pool.fetchval(
            "INSERT INTO webhooks (project_id, url, events, secret, created_by, created_at) "
            "VALUES ($1, $2, '{submission.created}', $3, $4, now() - interval '1 hour') RETURNING id",
            pid, receiver.url, SECRET, admin_id)
        async with pool.acquire() as conn:
            await webhook_service.on_events(conn, [events_service.Event.from_row(event)])
        strict = dataclasses.replace(settings, webhooks_allow_private=False)
        assert await webhook_service.send_due_deliveries(pool, strict) == 1
        row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE webhook_id = $1", hook)
        assert receiver.received == []
        assert (row["state"], row["attempts"]) == ("pending", 1)
        assert row["last_error"].startswith("refused: ")
        # allowed by configuration: delivered, signed
        assert await pool.fetchval("SELECT paused_until > now() FROM webhooks WHERE id = $1", hook)
        await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1",
                           row["id"])
        await pool.execute("UPDATE webhooks SET paused_until = NULL WHERE id = $1", hook)
        relaxed = dataclasses.replace(settings, webhooks_allow_private=True)
        assert await webhook_service.send_due_deliveries(pool, relaxed) == 1
        assert len(receiver.received) == 1
        got = receiver.received[0]
        assert got["payload"]["instanceId"] == instance and got["committed"]
        assert verify(SECRET, got["body"], got["headers"]["x-fieldsurvey-signature"])
        with pytest.raises(webhook_service.AddressRefused):
            await webhook_service.resolve_allowed("https://localhost:1/x", allow_private=False)
    finally:
        await receiver.stop()


def verify(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


async def test_every_event_arrives_signed_after_commit_through_downtime_and_a_restart(
        client, admin_headers, pool, database_url, data_dir):
    pid = await make_project(client, admin_headers)
    receiver = Receiver(pool)
    env = {"FIELDSURVEY_EVENTS_INTERVAL_SECONDS": "0.2", "FIELDSURVEY_WEBHOOKS_ALLOW_PRIVATE": "1",
           "FIELDSURVEY_WEBHOOK_RETRY_SECONDS": "1"}
    server = LiveServer(database_url, data_dir, env=env)
    server.start()
    began = time.monotonic()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            headers = await login(http, "admin@test.example", "admin-password-for-tests")
            made = await http.post(f"/v1/projects/{pid}/webhooks", headers=headers, json={
                "url": receiver.url, "secret": SECRET, "forms": ["risk_screening"],
                "events": ["submission.created", "submission.reviewed"]})
            assert made.status_code == 200, made.text
            hook_id = made.json()["id"]
            schema = parse_xform(compile_xlsform((LIBRARY / "risk_screening.xlsx").read_bytes(),
                                                 validate=False).xform)
            instances = [f"uuid:{uuid.uuid4()}" for _ in range(SUBMISSIONS)]
            limit = asyncio.Semaphore(8)

            async def submit(phone: httpx.AsyncClient, instance: str) -> None:
                xml = instance_xml(schema, {"consent": "yes", "age": "30"}, instance_id=instance)
                async with limit:
                    sent = await phone.post(f"/v1/projects/{pid}/submission",
                                            headers={**headers, **OPENROSA},
                                            files={"xml_submission_file": ("s.xml", xml, "text/xml")})
                    assert sent.status_code == 201, sent.text

            half = SUBMISSIONS // 2
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as phone:
                await asyncio.gather(*(submit(phone, i) for i in instances[:half]))
            server.kill()  # SIGKILL while deliveries wait for the receiver
            server.start()
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as phone:
                await asyncio.gather(*(submit(phone, i) for i in instances[half:]))
            for instance in instances[:REVIEWS]:
                reviewed = await http.patch(
                    f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance}",
                    json={"reviewState": "approved"}, headers=headers)
                assert reviewed.status_code == 200, reviewed.text
            await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - began)))
            await receiver.start()
            expected = {("submission.created", i) for i in instances} | {
                ("submission.reviewed", i) for i in instances[:REVIEWS]}
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                got = {(r["payload"]["event"], r["payload"]["instanceId"]) for r in receiver.received}
                if expected <= got:
                    break
                await asyncio.sleep(0.5)
            got = {(r["payload"]["event"], r["payload"]["instanceId"]) for r in receiver.received}
            assert expected - got == set(), f"{len(expected - got)} events never arrived"
            assert got == expected  # nothing else (other projects' events, other kinds)
            for r in receiver.received:
                assert verify(SECRET, r["body"], r["headers"]["x-fieldsurvey-signature"])
                assert r["committed"], r["payload"]
                assert r["payload"]["project"] == pid and r["payload"]["form"] == "risk_screening"
                assert r["payload"]["record"]["instanceId"] == r["payload"]["instanceId"]
                assert "<consent>yes</consent>" in r["payload"]["record"]["xml"]
            # in order per record: a submission's creation arrived before its review
            first_seen: dict[tuple[str, str], int] = {}
            for n, r in enumerate(receiver.received):
                first_seen.setdefault((r["payload"]["event"], r["payload"]["instanceId"]), n)
            for instance in instances[:REVIEWS]:
                assert first_seen[("submission.created", instance)] < first_seen[
                    ("submission.reviewed", instance)]
            # the delivery log: one delivered row per event, attempts counted, the down time seen
            await asyncio.sleep(1.0)  # the last marks after the last responses
            log = []
            for offset in range(0, 2 * SUBMISSIONS, 1000):
                page = await http.get(f"/v1/projects/{pid}/webhooks/{hook_id}/deliveries",
                                      params={"limit": 1000, "offset": offset}, headers=headers)
                log += page.json()
            assert len(log) == len(expected)
            assert {d["state"] for d in log} == {"delivered"}
            by_delivery = {int(r["headers"]["x-fieldsurvey-delivery"]) for r in receiver.received}
            assert by_delivery == {d["id"] for d in log}
            assert any(d["attempts"] > 1 for d in log)  # the receiver was down
            assert all(d["attempts"] >= 1 and d["lastStatus"] == 200 for d in log)
            # "Send again" from the page: the delivery goes out once more
            browser = await signed_in(client, "admin@test.example", "admin-password-for-tests")
            page = await browser.get(client, f"/projects/{pid}/webhooks/{hook_id}")
            assert page.status_code == 200 and "Send again" in page.text
            count = len(receiver.received)
            resent = await browser.post(
                client, f"/projects/{pid}/webhooks/{hook_id}/deliveries/{log[0]['id']}/resend")
            assert resent.status_code == 303
            deadline = time.monotonic() + 30
            while len(receiver.received) == count and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert int(receiver.received[-1]["headers"]["x-fieldsurvey-delivery"]) == log[0]["id"]
    finally:
        server.stop()
        await receiver.stop()


async def test_payload_masks_what_the_creator_may_not_read(client, admin_headers, make_user, pool,
                                                           settings):
    """A webhook made by a manager who is now only a researcher: the record's identifying
    answers arrive masked, as REST shows them to that person."""
    receiver = Receiver(pool)
    await receiver.start()
    try:
        created = await client.post("/v1/projects", json={"name": f"Masked {uuid.uuid4().hex[:6]}"},
                                    headers=admin_headers)
        pid = created.json()["id"]
        form = xlsx_bytes({
            "survey": [["type", "name", "label", "sensitive"],
                       ["text", "full_name", "Name", "yes"], ["integer", "age", "Age", ""]],
            "settings": [["form_id", "version"], ["marked_hook", "1"]]})
        sent = await client.post(f"/v1/projects/{pid}/forms?publish=true", content=form,
                                 headers={**admin_headers, "Content-Type": XLSX})
        assert sent.status_code == 200, sent.text
        researcher = await make_user("researcher", pid)
        hook = await pool.fetchval(
            "INSERT INTO webhooks (project_id, url, events, secret, created_by, created_at) "
            "VALUES ($1, $2, '{submission.created}', $3, $4, now() - interval '1 minute') "
            "RETURNING id", pid, receiver.url, SECRET, researcher["id"])
        xml = (b'<data id="marked_hook" version="1"><full_name>Zarina Secretova</full_name>'
               b'<age>17</age><meta><instanceID>uuid:' + str(uuid.uuid4()).encode()
               + b'</instanceID></meta></data>')
        sent = await client.post(f"/v1/projects/{pid}/submission", headers={**admin_headers, **OPENROSA},
                                 files={"xml_submission_file": ("s.xml", xml, "text/xml")})
        assert sent.status_code == 201, sent.text
        events = await pool.fetch("SELECT * FROM events WHERE project_id = $1", pid)
        async with pool.acquire() as conn:
            await webhook_service.on_events(conn, [events_service.Event.from_row(e) for e in events])
        relaxed = dataclasses.replace(settings, webhooks_allow_private=True)
        assert await webhook_service.send_due_deliveries(pool, relaxed) == 1
        record = receiver.received[0]["payload"]["record"]
        assert "Zarina" not in record["xml"] and "[masked]" in record["xml"]
        assert "<age>17</age>" in record["xml"]
        # the creator loses the project: nothing more is sent
        await pool.execute("DELETE FROM assignments WHERE actor_id = $1", researcher["id"])
        await pool.execute("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now() "
                           "WHERE webhook_id = $1", hook)
        assert await webhook_service.send_due_deliveries(pool, relaxed) == 1
        assert len(receiver.received) == 1
        row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE webhook_id = $1", hook)
        assert row["state"] == "failed" and "may no longer read" in row["last_error"]
    finally:
        await receiver.stop()

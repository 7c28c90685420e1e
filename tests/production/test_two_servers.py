"""Several app servers on one PostgreSQL (docs/scaling.md): two servers from the wheel, their
attachments in PostgreSQL, behind Caddy's load balancer (deploy/Caddyfile, `tls internal`),
without FIELDSURVEY_PUBLIC_URL. What one server hands out, the other accepts; the addresses
they write follow the proxy's; one of them is killed (SIGKILL) during 1,000 submissions."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import asyncpg
import httpx
import pytest

from tests.production.conftest import free_port
from tests.production.test_production import COLLECT, jpeg, photo_form, submission
from tests.xlsforms import XLSX

ADMIN_EMAIL = "admin@two.example"
ADMIN_PASSWORD = "two-servers-admin-password"
NS_LIST = "{http://openrosa.org/xforms/xformsList}"
NS_MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
SUBMISSIONS = 1000
SENDERS = 8  # phones sending at once


@pytest.fixture(scope="module")
def pair(debian_postgres, start_server, start_caddy):
    database_url = debian_postgres.create_database()
    ports = [free_port(), free_port()]
    env = {"FIELDSURVEY_ADMIN_EMAIL": ADMIN_EMAIL, "FIELDSURVEY_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "FIELDSURVEY_ATTACHMENTS": "postgres", "FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0"}
    servers = [start_server(database_url, port=port, **env) for port in ports]
    caddy = start_caddy([f"127.0.0.1:{port}" for port in ports])
    with caddy.client() as http:
        token = http.post("/v1/sessions", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert token.status_code == 200, token.text
        admin = {"Authorization": f"Bearer {token.json()['token']}"}
        pid = http.post("/v1/projects", json={"name": "Two servers"}, headers=admin).json()["id"]
        uploaded = http.post(f"/v1/projects/{pid}/forms?publish=true", content=photo_form(),
                             headers={**admin, "Content-Type": XLSX})
        assert uploaded.status_code == 200, uploaded.text
        phone = http.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone"},
                          headers=admin).json()
        assert http.post(f"/v1/projects/{pid}/forms/site_visit/assignments/app-user/{phone['id']}",
                         headers=admin).status_code == 200
    return {"servers": servers, "caddy": caddy, "admin": admin, "pid": pid,
            "key": f"/v1/key/{phone['token']}/projects/{pid}", "database_url": database_url}


def test_a_login_form_of_one_server_is_accepted_by_the_other(pair) -> None:
    first, second = pair["servers"]
    with httpx.Client() as http:  # straight to each server: the form from one, posted to the other
        page = http.get(f"{first.url}/login")
        token = CSRF_INPUT.search(page.text).group(1)
        signed = http.post(f"{second.url}/login", follow_redirects=False,
                           data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "_csrf_token": token})
        assert signed.status_code == 303, signed.text
        assert http.get(f"{first.url}/dashboard", follow_redirects=False).status_code == 200
    with pair["caddy"].client() as http:  # and through Caddy, which takes the servers in turn
        for _ in range(4):
            page = http.get("/login")
            assert all("Secure" in c for c in page.headers.get_list("set-cookie"))
            token = CSRF_INPUT.search(page.text).group(1)
            signed = http.post("/login", follow_redirects=False, data={
                "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "_csrf_token": token})
            assert signed.status_code == 303, signed.text
            session = [c for c in signed.headers.get_list("set-cookie")
                       if c.startswith("fieldsurvey_session=")]
            assert session and "Secure" in session[0]  # HTTPS as the proxy says, no PUBLIC_URL
            assert http.get("/dashboard", follow_redirects=False).status_code == 200
            http.cookies.clear()


def test_addresses_follow_the_proxy(pair) -> None:
    caddy = pair["caddy"]
    with caddy.client() as http:
        for _ in range(2):  # each server in turn
            listing = http.get(f"{pair['key']}/formList", headers=COLLECT)
            assert listing.status_code == 200, listing.text
            (entry,) = list(ET.fromstring(listing.content).iter(f"{NS_LIST}xform"))
            assert entry.findtext(f"{NS_LIST}downloadUrl").startswith(caddy.https_url + "/")
            app_users = http.get(f"/v1/projects/{pair['pid']}/app-users", headers=pair["admin"])
            assert app_users.status_code == 200
            odata = http.get(f"/v1/projects/{pair['pid']}/forms/site_visit.svc",
                             headers=pair["admin"])
            assert odata.status_code == 200, odata.text
            assert odata.json()["@odata.context"].startswith(caddy.https_url + "/")


def test_one_server_killed_during_a_thousand_submissions(pair) -> None:
    caddy, victim = pair["caddy"], pair["servers"][0]
    photo = jpeg()
    pending = [f"uuid:{uuid.uuid4()}" for _ in range(SUBMISSIONS)]
    acknowledged: dict[str, bytes] = {}
    refused_after_kill: list[float] = []  # when an answer other than 201 came, after the kill
    killed_at: list[float] = []
    answers: dict[object, int] = {}  # status (None: no answer) -> how often
    lock = threading.Lock()

    failures: list[BaseException] = []

    def send() -> None:
        try:
            send_some()
        except BaseException as exc:  # shown by the test, not lost in a thread
            failures.append(exc)
            raise

    def send_some() -> None:
        with caddy.client() as http:
            while True:
                with lock:
                    if not pending:
                        return
                    instance_id = pending.pop()
                content = photo + instance_id.encode()  # a file of its own
                for _ in range(20):  # as Collect does: sent again until it is taken
                    try:
                        answer = http.post(f"{pair['key']}/submission", headers=COLLECT, files=[
                            ("xml_submission_file",
                             ("s.xml", submission(instance_id, "far"), "text/xml")),
                            ("photo.jpg", ("photo.jpg", content, "image/jpeg"))])
                        status = answer.status_code
                    except httpx.TransportError:
                        status = None
                    with lock:
                        answers[status] = answers.get(status, 0) + 1
                    if status == 201:
                        with lock:
                            acknowledged[instance_id] = content
                        break
                    with lock:
                        if killed_at:
                            refused_after_kill.append(time.monotonic())
                    time.sleep(0.2)

    threads = [threading.Thread(target=send) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < SUBMISSIONS // 3:
        assert any(t.is_alive() for t in threads), (answers, failures)
        time.sleep(0.01)
    victim.kill()  # SIGKILL, mid-stream
    with lock:
        killed_at.append(time.monotonic())
    for thread in threads:
        thread.join(300)
    assert len(acknowledged) == SUBMISSIONS, answers  # each taken at last, by the living one
    # the dead server left the pool at once (health checks each second): later submissions were
    # all taken at the first try
    late = [t - killed_at[0] for t in refused_after_kill if t - killed_at[0] > 3]
    assert late == [], f"refused {len(late)} times more than 3 s after the kill"

    async def stored() -> tuple[list[asyncpg.Record], int]:
        conn = await asyncpg.connect(pair["database_url"])
        try:
            return await conn.fetch(
                "SELECT s.instance_id, count(*) OVER (PARTITION BY s.instance_id) AS copies, "
                "v.attachments_present, a.blob_key, b.key IS NOT NULL AS blob_stored "
                "FROM submissions s JOIN forms f ON f.id = s.form_id "
                "JOIN submission_versions v ON v.id = s.current_version_id "
                "LEFT JOIN submission_attachments a ON a.version_id = v.id "
                "LEFT JOIN attachment_blobs b ON b.key = a.blob_key "
                "WHERE f.project_id = $1 AND f.xml_form_id = 'site_visit'", pair["pid"]), \
                await conn.fetchval(
                    "SELECT count(*) FROM attachment_blobs b WHERE NOT EXISTS "
                    "(SELECT 1 FROM submission_attachments a WHERE a.blob_key = b.key)")
        finally:
            await conn.close()

    rows, orphans = asyncio.run(stored())
    rows = {r["instance_id"]: r for r in rows}
    assert orphans == 0  # a file commits with its submission, or not at all
    assert set(acknowledged) <= set(rows)
    for instance_id in acknowledged:  # stored once, with its file
        row = rows[instance_id]
        assert (row["copies"], row["attachments_present"], row["blob_stored"]) == (1, 1, True)
    # and every file is read through the server left standing
    with caddy.client() as http:
        for instance_id, content in acknowledged.items():
            read = http.get(f"/v1/projects/{pair['pid']}/forms/site_visit/submissions/"
                            f"{instance_id}/attachments/photo.jpg", headers=pair["admin"])
            assert read.status_code == 200 and read.content == content, instance_id

"""Hostile and broken input, one class per section: every bad input gets a clear 4xx
(problem+json on REST, OpenRosaResponse on OpenRosa) and never a 500 or a cut-off 200;
nothing is left half-written; spreadsheets people open hold no formula."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import asyncpg
import pytest

from forms.submission import DEFAULT_MAX_BYTES as MAX_SUBMISSION_XML_BYTES
from tests.unit.test_hostile_spreadsheets import local_headers
from tests.xlsforms import XLSX, xlsx_bytes

FORM_ID = "hostile"
EVIL = '=HYPERLINK("http://evil.example/x","click")'
NS_RESPONSE = "{http://openrosa.org/http/response}"
OPENROSA = {"X-OpenRosa-Version": "1.0"}


def hostile_form() -> bytes:
    return xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label"],
                ["text", "note_text", "Note"],
                ["select_one c", "choice", "Choice"],
                ["integer", "n", "Number"],
                ["image", "photo", "Photo"],
            ],
            "choices": [["list_name", "name", "label"], ["c", "a", "@SUM(1+1)"], ["c", "b", "B"]],
            "settings": [["form_id", "version", "form_title"], [FORM_ID, "1", "Hostile"]],
        }
    )


def submission(instance_id: str, *, text: str = "hello", photo: str = "", n: str = "1") -> bytes:
    return (
        f'<?xml version="1.0"?><data xmlns:orx="http://openrosa.org/xforms" id="{FORM_ID}" '
        f'version="1"><note_text>{text}</note_text><choice>a</choice><n>{n}</n>'
        f"<photo>{photo}</photo><meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@pytest.fixture(scope="module")
async def hostile(client, admin_headers):
    project = await client.post(
        "/v1/projects", json={"name": f"hostile-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=hostile_form(),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    app_user = (
        await client.post(
            f"/v1/projects/{pid}/app-users", json={"displayName": "phone"}, headers=admin_headers
        )
    ).json()
    assigned = await client.post(
        f"/v1/projects/{pid}/forms/{FORM_ID}/assignments/app-user/{app_user['id']}",
        headers=admin_headers,
    )
    assert assigned.status_code == 200, assigned.text
    return {"pid": pid, "key": f"/v1/key/{app_user['token']}/projects/{pid}"}


async def post_openrosa(client, hostile, xml: bytes, files: dict[str, bytes] | None = None):
    parts = {"xml_submission_file": ("submission.xml", xml, "text/xml")}
    for name, content in (files or {}).items():
        parts[name] = (name, content, "image/jpeg")
    return await client.post(f"{hostile['key']}/submission", files=parts, headers=OPENROSA)


def openrosa_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/xml"), response.text
    message = ET.fromstring(response.content).find(f"{NS_RESPONSE}message")
    assert message.get("nature") == "error"
    return message.text


def stored_files(data_dir: Path) -> int:
    root = data_dir / "attachments"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


# --- Spreadsheets people open -------------------------------------------------------------


@pytest.fixture(scope="module")
async def hostile_rows(client, hostile):
    for text in (EVIL, "-5", "+992900000000", "@cmd", "plain"):
        response = await post_openrosa(client, hostile, submission(f"uuid:{uuid.uuid4()}", text=text))
        assert response.status_code == 201, response.text
    return hostile


async def test_csv_export_neutralises_formulas_by_default(client, admin_headers, hostile_rows):
    base = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}/submissions.csv.zip"

    async def texts(query: str) -> set[str]:
        response = await client.get(base + query, headers=admin_headers)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            for header in local_headers(response.content):
                assert header["version"] == 20 and 0x0001 not in header["extra_ids"]
            rows = list(csv.DictReader(io.StringIO(archive.read(f"{FORM_ID}.csv").decode())))
        return {r["note_text"] for r in rows}

    assert texts_ok(await texts(""), {"'" + EVIL, "-5", "+992900000000", "'@cmd", "plain"})
    assert texts_ok(await texts("?escapeFormulas=false"), {EVIL, "-5", "+992900000000", "@cmd"})


def texts_ok(found: set[str], wanted: set[str]) -> bool:
    assert wanted <= found, found
    return True


async def test_xlsx_export_and_report_hold_no_formula(client, admin_headers, hostile_rows):
    base = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}"
    for path in ("/submissions.xlsx", "/report.xlsx"):
        response = await client.get(base + path, headers=admin_headers)
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            xml = "".join(archive.read(n).decode() for n in archive.namelist())
        assert "<f>" not in xml and "<f " not in xml, path
        assert "HYPERLINK" in xml or "@SUM" in xml, path


# --- Files and names ------------------------------------------------------------------------


async def test_refused_resends_leave_no_file(client, hostile, data_dir):
    instance = f"uuid:{uuid.uuid4()}"
    xml = submission(instance, photo="p.jpg")
    first = await post_openrosa(client, hostile, xml, {"p.jpg": b"first photo"})
    assert first.status_code == 201, first.text
    before = stored_files(data_dir)
    for attempt in range(5):
        other = submission(instance, photo="p.jpg", text=f"changed {attempt}")
        refused = await post_openrosa(client, hostile, other, {"p.jpg": f"junk {attempt}".encode()})
        openrosa_error(refused, 409)
        # the same XML again with other bytes for a file it already has: kept, not stored
        again = await post_openrosa(client, hostile, xml, {"p.jpg": f"other {attempt}".encode()})
        assert again.status_code == 201, again.text
    assert stored_files(data_dir) == before


@pytest.mark.parametrize(
    "name", ["../escape.jpg", "dir/p.jpg", "back\\slash.jpg", "line&#13;&#10;break.jpg", "t&#9;ab.jpg", ".."]
)
async def test_attachment_names_with_paths_or_control_characters_are_refused(
    client, hostile, data_dir, pool, name
):
    instance = f"uuid:{uuid.uuid4()}"
    before = stored_files(data_dir)
    response = await post_openrosa(client, hostile, submission(instance, photo=name), {"x": b"x"})
    assert "cannot be stored" in openrosa_error(response, 400)
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1", instance) == 0
    assert stored_files(data_dir) == before


# --- Clear 4xx instead of a 500 or a cut-off 200 -------------------------------------------


def problem(response, status: int = 400) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == status and body["slug"] and int(body["code"]) == status
    return body


async def audit_count(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM audits")


async def test_nul_characters_in_json_strings_are_400(client, admin_headers, hostile):
    pid = hostile["pid"]
    nul = "a\u0000b"
    problem(await client.post("/v1/sessions", json={"email": nul, "password": nul}))
    problem(await client.post("/v1/users", json={"email": f"{nul}@x.example", "password": "p" * 12},
                              headers=admin_headers))
    problem(await client.post("/v1/projects", json={"name": nul}, headers=admin_headers))
    problem(await client.post("/v1/projects", json={"name": "ok", "description": nul},
                              headers=admin_headers))
    problem(await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": nul},
                              headers=admin_headers))
    instance = f"uuid:{uuid.uuid4()}"
    created = await post_openrosa(client, hostile, submission(instance))
    assert created.status_code == 201
    problem(await client.post(
        f"/v1/projects/{pid}/forms/{FORM_ID}/submissions/{instance}/comments",
        json={"body": nul}, headers=admin_headers,
    ))


async def test_nul_in_query_parameters(client, admin_headers, hostile):
    pid = hostile["pid"]
    response = await client.post(
        f"{hostile['key']}/submission?deviceID=a%00b",
        files={"xml_submission_file": ("s.xml", submission(f"uuid:{uuid.uuid4()}"), "text/xml")},
        headers=OPENROSA,
    )
    openrosa_error(response, 400)
    response = await client.post(
        f"/v1/projects/{pid}/forms/{FORM_ID}/submissions?deviceID=a%00b",
        content=submission(f"uuid:{uuid.uuid4()}"),
        headers={**admin_headers, "Content-Type": "application/xml"},
    )
    problem(response)
    problem(await client.get("/v1/audits?action=a%00b", headers=admin_headers))


async def test_deep_json_is_400(client):
    depth = 100_000
    body = "[" * depth + "]" * depth
    response = await client.post(
        "/v1/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    problem(response)
    obj = '{"email":' * 5000 + '"x"' + "}" * 5000
    problem(await client.post("/v1/sessions", content=obj, headers={"Content-Type": "application/json"}))


async def test_oversized_names_are_400(client, admin_headers, hostile):
    problem(await client.post("/v1/projects", json={"name": "p" * 1_000_000}, headers=admin_headers))
    problem(await client.post(f"/v1/projects/{hostile['pid']}/app-users",
                              json={"displayName": "d" * 100_000}, headers=admin_headers))


async def test_huge_limit_offset_and_extreme_dates_are_400(client, admin_headers, hostile):
    pid = hostile["pid"]
    huge = "100000000000000000000"
    base = f"/v1/projects/{pid}/forms/{FORM_ID}/submissions"
    problem(await client.get(f"{base}?limit={huge}", headers=admin_headers))
    problem(await client.get(f"{base}?offset={huge}", headers=admin_headers))
    problem(await client.get(f"/v1/audits?limit={huge}", headers=admin_headers))
    problem(await client.get(f"/v1/audits?offset={huge}", headers=admin_headers))
    for moment in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B05:00"):
        problem(await client.get(f"/v1/audits?start={moment}", headers=admin_headers))
        problem(await client.get(f"/v1/audits?end={moment}", headers=admin_headers))
    for month in ("0000-01", "0000-01-01"):
        problem(await client.get(f"/v1/projects/{pid}/summaries/risk?from={month}",
                                 headers=admin_headers))
        problem(await client.get(f"/v1/projects/{pid}/summaries/risk.xlsx?from={month}",
                                 headers=admin_headers))


async def test_xform_upload_with_invalid_utf8_is_400(client, admin_headers, hostile):
    xform = (
        b'<?xml version="1.0" encoding="UTF-8"?><h:html xmlns="http://www.w3.org/2002/xforms" '
        b'xmlns:h="http://www.w3.org/1999/xhtml"><h:head><h:title>\xff\xfe bad</h:title><model>'
        b'<instance><data id="bad_utf8"><a/><meta><instanceID/></meta></data></instance>'
        b'<bind nodeset="/data/a" type="string"/></model></h:head><h:body>'
        b'<input ref="/data/a"><label>A</label></input></h:body></h:html>'
    )
    response = await client.post(
        f"/v1/projects/{hostile['pid']}/forms", content=xform,
        headers={**admin_headers, "Content-Type": "application/xml"},
    )
    problem(response)


@pytest.mark.parametrize("name", ["..", "a&#13;&#10;b.png", "x&#127;.png", "a\\\\b.png"])
async def test_form_media_names_that_no_phone_could_fetch_are_refused(
    client, admin_headers, hostile, name
):
    xform = (
        '<?xml version="1.0"?><h:html xmlns="http://www.w3.org/2002/xforms" '
        'xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa"><h:head>'
        '<h:title>Media</h:title><model><itext><translation lang="default"><text id="q:label">'
        f'<value form="image">jr://images/{name}</value><value>Q</value></text></translation>'
        '</itext><instance><data id="bad_media"><q/><meta><instanceID/></meta></data></instance>'
        '<bind nodeset="/data/q" type="string"/></model></h:head><h:body>'
        '<input ref="/data/q"><label ref="jr:itext(\'q:label\')"/></input></h:body></h:html>'
    ).encode()
    response = await client.post(
        f"/v1/projects/{hostile['pid']}/forms", content=xform,
        headers={**admin_headers, "Content-Type": "application/xml"},
    )
    body = problem(response)
    assert body["slug"] == "xform-invalid" and "media file" in response.text
    listed = await client.get(f"/v1/projects/{hostile['pid']}/forms", headers=admin_headers)
    assert "bad_media" not in listed.text


@pytest.mark.parametrize(
    "query",
    [
        "$filter=" + "(" * 1000 + "__system/submitterId eq 1" + ")" * 1000,
        "$filter=" + "not " * 1000 + "(__system/submitterId eq 1)",
        "$filter=__system/submitterId eq 99999999999999999999",
        "$filter=__system/submitterId eq -99999999999999999999",
        "$filter=__system/submissionDate gt 0001-01-01T00:00:00%2B05:00",
        "$filter=__system/submissionDate lt 9999-12-31T23:59:59-05:00",
        "$filter=year(__system/submissionDate) eq 1e999999",
        "$filter=year(__system/submissionDate) eq -1e999999",
        "$top=100000000000000000000",
        "$skip=100000000000000000000",
    ],
)
async def test_odata_values_are_checked_before_the_first_byte(
    client, admin_headers, hostile_rows, pool, query
):
    before = await audit_count(pool)
    url = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}.svc/Submissions?{query}"
    problem(await client.get(url, headers=admin_headers))
    assert await audit_count(pool) == before


async def test_export_dates_are_checked_before_the_first_byte(client, admin_headers, hostile, pool):
    base = f"/v1/projects/{hostile['pid']}/forms/{FORM_ID}"
    before = await audit_count(pool)
    for path in ("/submissions.csv.zip", "/submissions.xlsx"):
        for moment in ("0001-01-01T00:00:00%2B05:00", "9999-12-31T23:59:59-05:00"):
            problem(await client.get(f"{base}{path}?since={moment}", headers=admin_headers))
            problem(await client.get(f"{base}{path}?until={moment}", headers=admin_headers))
    assert await audit_count(pool) == before


# The four streamed bodies: each opens its own connection and snapshot.
STREAMS = (".svc/Submissions", "/submissions.csv.zip", "/submissions.csv.zip?attachments=false",
           "/submissions.xlsx")
# Two ways a database refuses a stream's own (new) connection while the request's pool
# connection still works: it accepts no new connection (503), or a new connection cannot read
# the tables (its first statement fails: 500).
REFUSALS = {
    "no-new-connections": ("ALLOW_CONNECTIONS false", "ALLOW_CONNECTIONS true", 503),
    "first-statement-fails": ("SET search_path TO nowhere", "RESET search_path", 500),
}


@pytest.mark.parametrize("refusal", REFUSALS)
async def test_a_stream_whose_database_refuses_is_a_problem_before_any_byte(
    client, admin_headers, hostile_rows, pool, server_url, refusal
):
    base = f"/v1/projects/{hostile_rows['pid']}/forms/{FORM_ID}"
    refuse, restore, status = REFUSALS[refusal]
    name = await pool.fetchval("SELECT current_database()")
    admin = await asyncpg.connect(server_url)  # on the server's own database, kept throughout
    try:
        for path in STREAMS:
            # the request's checks run on a live pool connection (asyncpg's pool hands out the
            # last one released), so only the stream's own connection meets the refusal
            warm = await client.get(f"/v1/projects/{hostile_rows['pid']}", headers=admin_headers)
            assert warm.status_code == 200
            before = await audit_count(pool)
            await admin.execute(f'ALTER DATABASE "{name}" {refuse}')
            try:
                response = await client.get(base + path, headers=admin_headers)
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" {restore}')
                # a connection a pool opened meanwhile (the app's summary folder's, say) keeps
                # the refused settings for its life: both pools start afresh
                await client.app.state.pool.expire_connections()
                await pool.expire_connections()
            problem(response, status)
            assert await audit_count(pool) == before, path
    finally:
        await admin.close()
    assert (await client.get(base + STREAMS[0], headers=admin_headers)).status_code == 200


async def test_instance_ids_are_bounded(client, hostile, pool):
    long_id = "uuid:" + "x" * 100_000
    response = await post_openrosa(client, hostile, submission(long_id))
    openrosa_error(response, 400)
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE length(instance_id) > 1000") == 0


async def test_head_submission_advertises_the_cap_the_server_enforces(client, hostile, settings):
    head = await client.head(f"{hostile['key']}/submission", headers=OPENROSA)
    assert head.status_code == 204
    advertised = int(head.headers["X-OpenRosa-Accept-Content-Length"])
    assert advertised == settings.max_submission_bytes
    # an XML part as large as the advertised body is refused with a clear 413, not a 500
    big = submission(f"uuid:{uuid.uuid4()}", text="y" * (MAX_SUBMISSION_XML_BYTES + 1))
    assert len(big) < advertised
    assert f"{MAX_SUBMISSION_XML_BYTES}" in openrosa_error(await post_openrosa(client, hostile, big), 413)


# --- Authentication -------------------------------------------------------------------------


async def test_new_users_need_passwords_of_ten_characters(client, admin_headers):
    email = f"short-{uuid.uuid4().hex[:6]}@test.example"
    body = problem(await client.post("/v1/users", json={"email": email, "password": "123456789"},
                                     headers=admin_headers))
    assert body["slug"] == "password-too-short"
    created = await client.post("/v1/users", json={"email": email, "password": "1234567890"},
                                headers=admin_headers)
    assert created.status_code == 200, created.text


def _digest_header(email: str, password: str, method: str, uri: str, challenge: str, nc: int) -> str:
    import hashlib

    from api.auth import parse_digest

    params = parse_digest(challenge)
    ha1 = hashlib.md5(f"{email}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce = uuid.uuid4().hex[:16]
    response = hashlib.md5(
        f"{ha1}:{params['nonce']}:{nc:08x}:{cnonce}:auth:{ha2}".encode()
    ).hexdigest()
    return (
        f'Digest username="{email}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", response="{response}", qop=auth, nc={nc:08x}, cnonce="{cnonce}", '
        "algorithm=MD5"
    )


@pytest.fixture(scope="module")
def two_workers(database_url, data_dir, client):
    from tests.conftest import LiveServer

    server = LiveServer(
        database_url, data_dir,
        env={
            "FIELDSURVEY_WORKERS": "2",
            "FIELDSURVEY_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "FIELDSURVEY_BODY_IDLE_SECONDS": "3",
        },
        startup_seconds=240,
    )
    server.start()
    yield server
    server.stop()


async def test_digest_counts_are_shared_by_workers_and_uris_compared_exactly(
    two_workers, hostile, make_user
):
    import httpx

    collector = await make_user("collector", hostile["pid"])
    path = f"/v1/projects/{hostile['pid']}/formList"
    url = two_workers.base_url + path
    with httpx.Client(headers=OPENROSA, timeout=30) as http:
        challenge = http.get(url).headers["WWW-Authenticate"]
        header = _digest_header(collector["email"], collector["password"], "GET", path, challenge, 1)
        assert http.get(url, headers={"Authorization": header}).status_code == 200
    for _ in range(12):  # new connections: uvicorn's workers share the socket
        with httpx.Client(headers={**OPENROSA, "Authorization": header}, timeout=30) as http:
            assert http.get(url).status_code == 401
    with httpx.Client(headers=OPENROSA, timeout=30) as http:
        challenge = http.get(url).headers["WWW-Authenticate"]
        moved = _digest_header(
            collector["email"], collector["password"], "GET", "/elsewhere" + path, challenge, 1
        )
        assert http.get(url, headers={"Authorization": moved}).status_code == 401


async def test_forwarded_proto_is_trusted_only_from_named_proxies(two_workers, live_server):
    import httpx

    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    with httpx.Client(timeout=30) as http:
        forged = http.get(f"{live_server.base_url}/v1/projects", auth=(ADMIN_EMAIL, ADMIN_PASSWORD),
                          headers={"X-Forwarded-Proto": "https"})
        assert forged.status_code == 401  # the default server trusts no proxy
        proxied = http.get(f"{two_workers.base_url}/v1/projects", auth=(ADMIN_EMAIL, ADMIN_PASSWORD),
                           headers={"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 200  # this one was told 127.0.0.1 is its TLS proxy


# --- Starvation and recovery ----------------------------------------------------------------


def _stalled_upload(port: int, path: str):
    """An upload that sends a tenth of its Content-Length, then nothing."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = b"--b\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; " \
           b"filename=\"s.xml\"\r\n\r\n<data"
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenRosa-Version: 1.0\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n".encode()
        + body
    )
    return sock


async def test_slow_uploads_do_not_starve_other_requests(two_workers, hostile):
    import time

    import httpx

    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    base = two_workers.base_url
    with httpx.Client(timeout=20) as http:
        token = http.post(f"{base}/v1/sessions",
                          json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
    # more stalled uploads than both workers' pools hold connections (2 x 20), one app user
    stalled = [_stalled_upload(two_workers.port, f"{hostile['key']}/submission") for _ in range(45)]
    try:
        time.sleep(0.5)
        started = time.monotonic()
        with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(3):
                assert http.get(f"{base}/v1/projects").status_code == 200
                assert http.get(f"{base}/health").status_code == 200
        assert time.monotonic() - started < 10
        # and each stalled upload is answered: 408, in OpenRosa's XML
        for sock in stalled:
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"OpenRosaResponse" in answer or b"\r\n\r\n" in answer
    finally:
        for sock in stalled:
            sock.close()


async def test_embedded_database_is_supervised_and_stopped_with_the_server(tmp_path):
    import os
    import signal
    import time

    import httpx

    from tests.conftest import LiveServer

    server = LiveServer(None, tmp_path, env={"FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0"},
                        startup_seconds=240)
    server.start()
    pid_file = tmp_path / "pg" / "postmaster.pid"
    try:
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{server.base_url}/health").json()["database"] == "ok"
            first = int(pid_file.read_text().split()[0])
            os.kill(first, signal.SIGKILL)  # the database dies
            seen = set()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                health = http.get(f"{server.base_url}/health")
                seen.add(health.status_code)
                if health.status_code == 503:
                    assert health.headers["content-type"].startswith("application/problem+json")
                if health.status_code == 200 and pid_file.exists() and (
                    int(pid_file.read_text().split()[0]) != first
                ):
                    break
                time.sleep(0.5)
            assert health.status_code == 200, (seen, server.log_path.read_text()[-2000:])
            # while the database is gone /health says so (503), never a 500
            assert seen <= {200, 503}, (seen, server.log_path.read_text()[-2000:])
            # the pool answers real requests again
            login = http.post(f"{server.base_url}/v1/sessions",
                              json={"email": "admin@test.example", "password": "admin-password-for-tests"})
            assert login.status_code == 200, login.text
        second = int(pid_file.read_text().split()[0])
    finally:
        server.stop(timeout=90)  # SIGTERM, as Ctrl-C or a service manager would
    assert server.process.returncode == 0, server.log_path.read_text()[-2000:]
    assert "stopped the embedded PostgreSQL" in server.log_path.read_text()
    for _ in range(40):
        try:
            os.kill(second, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the embedded PostgreSQL outlived the server")


async def test_xlsform_that_inflates_is_refused_over_rest(client, admin_headers, hostile):
    from tests.unit.test_xlsform_inflation import inflating_bomb

    response = await client.post(
        f"/v1/projects/{hostile['pid']}/forms", content=inflating_bomb(),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert "MiB" in problem(response)["detail"]

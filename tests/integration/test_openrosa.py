"""ODK Collect's conversation with the server, over real HTTP to a live server process:
formList, form download, manifest and media, HEAD then POST submission, split uploads
(*isIncomplete*), resends, edits, app-user token URLs and Digest login."""

from __future__ import annotations

import hashlib
import time
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest

from api.app_users import decode_collect_settings
from tests.xlsforms import XLSX, xlsx_bytes

COLLECT_HEADERS = {
    "X-OpenRosa-Version": "1.0",
    "User-Agent": "org.odk.collect.android/v2025.3.0 Dalvik/2.1.0 (Linux; U; Android 14)",
    "Accept-Encoding": "gzip,deflate",
}
NS_LIST = "{http://openrosa.org/xforms/xformsList}"
NS_MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"
NS_RESPONSE = "{http://openrosa.org/http/response}"


def photo_form(version: str) -> bytes:
    return xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label", "parameters", "choice_filter"],
                ["integer", "age", "Age", None, None],
                ["image", "photo", "Photo", "max-pixels=1024", None],
                ["image", "sketch", "Sketch", "max-pixels=1024", None],
                ["begin repeat", "member", "Member", None, None],
                ["text", "role", "Role", None, None],
                ["end repeat", None, None, None, None],
                ["select_one_from_file places.csv", "place", "Place", None, None],
            ],
            "settings": [["form_id", "version", "form_title"], ["collect_photo", version, "Photo form"]],
        }
    )


def submission_xml(instance_id: str, *, version: str = "1", age: str = "30",
                   photo: str = "photo.jpg", sketch: str = "sketch.png",
                   deprecated_id: str | None = None, members=("head",)) -> bytes:
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    members_xml = "".join(f"<member><role>{m}</role></member>" for m in members)
    return (
        f'<?xml version="1.0"?><data xmlns:jr="http://openrosa.org/javarosa" '
        f'xmlns:orx="http://openrosa.org/xforms" id="collect_photo" version="{version}">'
        f"<age>{age}</age><photo>{photo}</photo><sketch>{sketch}</sketch>{members_xml}"
        f"<place>a</place>"
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
    ).encode()


@pytest.fixture(scope="module")
async def collect_setup(client, admin_headers, live_server):
    name = f"collect-{uuid.uuid4().hex[:6]}"
    project = (await client.post("/v1/projects", json={"name": name}, headers=admin_headers)).json()
    pid = project["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?ignoreWarnings=true", content=photo_form("1"),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    media = await client.post(
        f"/v1/projects/{pid}/forms/collect_photo/draft/attachments/places.csv",
        content=b"name,label\na,Place A\nb,Place B\n",
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert media.status_code == 200, media.text
    published = await client.post(f"/v1/projects/{pid}/forms/collect_photo/draft/publish", headers=admin_headers)
    assert published.status_code == 200, published.text
    app_user = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone 1"},
                                  headers=admin_headers)).json()
    assigned = await client.post(
        f"/v1/projects/{pid}/forms/collect_photo/assignments/app-user/{app_user['id']}",
        headers=admin_headers,
    )
    assert assigned.status_code == 200
    key_base = f"{live_server.base_url}/v1/key/{app_user['token']}/projects/{pid}"
    return {"pid": pid, "app_user": app_user, "key_base": key_base, "server": live_server}


def new_instance_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def post_submission(url: str, xml: bytes, files: dict[str, bytes] | None = None,
                    incomplete: bool = False, auth=None, device: str = "collect:abc123"):
    parts = [("xml_submission_file", ("submission.xml", xml, "text/xml"))]
    for name, content in (files or {}).items():
        parts.append((name, (name, content, "image/jpeg")))
    if incomplete:
        parts.append(("*isIncomplete*", (None, b"yes")))
    with httpx.Client(headers=COLLECT_HEADERS, auth=auth, timeout=30) as http:
        head = http.head(f"{url}/submission", params={"deviceID": device})
        assert head.status_code == 204, head.text
        assert int(head.headers["X-OpenRosa-Accept-Content-Length"]) > 0
        return http.post(f"{url}/submission", params={"deviceID": device}, files=parts)


def assert_openrosa(response, status: int) -> ET.Element:
    assert response.status_code == status, response.text
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers["Content-Type"].startswith("text/xml")
    assert "Date" in response.headers
    root = ET.fromstring(response.content)
    assert root.tag == f"{NS_RESPONSE}OpenRosaResponse"
    return root


async def test_form_list_download_and_manifest(collect_setup) -> None:
    base = collect_setup["key_base"]
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        listing = http.get(f"{base}/formList")
        assert listing.status_code == 200 and listing.headers["X-OpenRosa-Version"] == "1.0"
        assert listing.headers["Content-Type"].startswith("text/xml")
        root = ET.fromstring(listing.content)
        forms = root.findall(f"{NS_LIST}xform")
        assert [f.findtext(f"{NS_LIST}formID") for f in forms] == ["collect_photo"]
        entry = forms[0]
        assert entry.findtext(f"{NS_LIST}version") == "1"
        download = http.get(entry.findtext(f"{NS_LIST}downloadUrl"))
        assert download.status_code == 200
        assert entry.findtext(f"{NS_LIST}hash") == "md5:" + hashlib.md5(download.content).hexdigest()
        manifest = http.get(entry.findtext(f"{NS_LIST}manifestUrl"))
        assert manifest.status_code == 200
        media = ET.fromstring(manifest.content).findall(f"{NS_MANIFEST}mediaFile")
        assert [m.findtext(f"{NS_MANIFEST}filename") for m in media] == ["places.csv"]
        csv = http.get(media[0].findtext(f"{NS_MANIFEST}downloadUrl"))
        assert csv.status_code == 200
        assert media[0].findtext(f"{NS_MANIFEST}hash") == "md5:" + hashlib.md5(csv.content).hexdigest()
        assert http.get(f"{base}/formList", params={"formID": "nope"}).content.count(b"<xform>") == 0


async def test_openrosa_version_header_is_required(collect_setup) -> None:
    with httpx.Client(timeout=30) as http:
        response = http.get(f"{collect_setup['key_base']}/formList")
    root = assert_openrosa(response, 400)
    assert root.find(f"{NS_RESPONSE}message").get("nature") == "error"


async def test_submission_with_attachments_then_split_upload_and_resend(collect_setup, pool) -> None:
    base = collect_setup["key_base"]
    instance = new_instance_id()
    xml = submission_xml(instance)
    # Collect's split upload: the first request carries part of the files and *isIncomplete*
    first = post_submission(base, xml, {"photo.jpg": b"\xff\xd8photo"}, incomplete=True)
    assert_openrosa(first, 201)
    row = await pool.fetchrow(
        "SELECT v.attachments_expected, v.attachments_present, s.device_id FROM submissions s "
        "JOIN submission_versions v ON v.id = s.current_version_id WHERE s.instance_id = $1", instance)
    assert (row["attachments_expected"], row["attachments_present"]) == (2, 1)
    assert row["device_id"] == "collect:abc123"
    # the second carries the rest, plus a file the form does not expect (ignored)
    second = post_submission(base, xml, {"sketch.png": b"\x89PNGsketch", "extra.bin": b"zzz"})
    assert_openrosa(second, 201)
    # a resend of everything changes nothing
    assert_openrosa(post_submission(base, xml, {"photo.jpg": b"\xff\xd8photo"}), 201)
    rows = await pool.fetch(
        "SELECT a.name, a.blob_key IS NOT NULL AS present FROM submission_attachments a "
        "JOIN submissions s ON s.current_version_id = a.version_id WHERE s.instance_id = $1 ORDER BY a.name",
        instance)
    assert [(r["name"], r["present"]) for r in rows] == [("photo.jpg", True), ("sketch.png", True)]
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1", instance) == 1
    stored = await pool.fetchrow(
        "SELECT v.xml, v.answers FROM submissions s JOIN submission_versions v "
        "ON v.id = s.current_version_id WHERE s.instance_id = $1", instance)
    assert bytes(stored["xml"]) == xml
    assert stored["answers"]["member"] == [{"role": "head"}]
    assert stored["answers"]["age"] == "30"


async def test_same_instance_id_with_different_xml_is_409(collect_setup) -> None:
    base = collect_setup["key_base"]
    instance = new_instance_id()
    assert_openrosa(post_submission(base, submission_xml(instance, age="30")), 201)
    root = assert_openrosa(post_submission(base, submission_xml(instance, age="31")), 409)
    assert root.find(f"{NS_RESPONSE}message").get("nature") == "error"


async def test_edit_with_deprecated_id_keeps_history_and_attachments(collect_setup, pool) -> None:
    base = collect_setup["key_base"]
    original = new_instance_id()
    assert_openrosa(post_submission(base, submission_xml(original), {"photo.jpg": b"p1", "sketch.png": b"s1"}), 201)
    edited = new_instance_id()
    # the edit sends a new sketch only; the photo carries over by name
    xml = submission_xml(edited, age="45", deprecated_id=original, members=("head", "child"))
    assert_openrosa(post_submission(base, xml, {"sketch.png": b"s2"}), 201)
    sub = await pool.fetchrow(
        "SELECT s.id, s.edits, s.review_state, v.instance_id, v.answers, v.attachments_present "
        "FROM submissions s JOIN submission_versions v ON v.id = s.current_version_id "
        "WHERE s.instance_id = $1", original)
    assert sub["edits"] == 1 and sub["review_state"] == "edited"
    assert sub["instance_id"] == edited and sub["answers"]["age"] == "45"
    assert sub["attachments_present"] == 2
    versions = await pool.fetch(
        "SELECT instance_id, current FROM submission_versions WHERE submission_id = $1 ORDER BY id", sub["id"])
    assert [(v["instance_id"], v["current"]) for v in versions] == [(original, False), (edited, True)]
    keys = {r["name"]: r["blob_key"] for r in await pool.fetch(
        "SELECT a.name, a.blob_key FROM submission_attachments a JOIN submission_versions v ON v.id = a.version_id "
        "WHERE v.instance_id = $1", edited)}
    assert keys["photo.jpg"] == hashlib.sha256(b"p1").hexdigest()
    assert keys["sketch.png"] == hashlib.sha256(b"s2").hexdigest()
    # editing the old version again is refused
    again = submission_xml(new_instance_id(), deprecated_id=original)
    assert_openrosa(post_submission(base, again), 409)


async def test_unknown_form_version_and_closed_form(collect_setup, client, admin_headers) -> None:
    base = collect_setup["key_base"]
    assert_openrosa(post_submission(base, submission_xml(new_instance_id(), version="99")), 404)
    pid = collect_setup["pid"]
    for state, status in (("closing", 201), ("closed", 409), ("open", 201)):
        patched = await client.patch(f"/v1/projects/{pid}/forms/collect_photo", json={"state": state},
                                     headers=admin_headers)
        assert patched.status_code == 200
        # the live server re-reads form state within a few seconds
        import asyncio
        await asyncio.sleep(2.2)
        assert_openrosa(post_submission(base, submission_xml(new_instance_id())), status)


async def test_bad_submissions_get_openrosa_errors(collect_setup) -> None:
    base = collect_setup["key_base"]
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        no_file = http.post(f"{base}/submission", files=[("other", ("x.xml", b"<a/>", "text/xml"))])
        assert_openrosa(no_file, 400)
        broken = http.post(f"{base}/submission", files=[("xml_submission_file", ("s.xml", b"<data", "text/xml"))])
        assert_openrosa(broken, 400)
        no_id = http.post(f"{base}/submission",
                          files=[("xml_submission_file", ("s.xml", b"<data><a/></data>", "text/xml"))])
        assert_openrosa(no_id, 400)
        bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
                b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><data id="collect_photo">&b;</data>')
        refused = http.post(f"{base}/submission", files=[("xml_submission_file", ("s.xml", bomb, "text/xml"))])
        assert_openrosa(refused, 400)
        revoked_base = base.replace(collect_setup["app_user"]["token"], "not-a-token")
        assert_openrosa(http.post(f"{revoked_base}/submission",
                                  files=[("xml_submission_file", ("s.xml", submission_xml(new_instance_id()), "text/xml"))]), 401)


async def test_unassigned_and_revoked_app_users(collect_setup, client, admin_headers) -> None:
    pid = collect_setup["pid"]
    other = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone 2"},
                               headers=admin_headers)).json()
    base = f"{collect_setup['server'].base_url}/v1/key/{other['token']}/projects/{pid}"
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        assert http.get(f"{base}/formList").content.count(b"<xform>") == 0
    assert_openrosa(post_submission(base, submission_xml(new_instance_id())), 403)
    revoked = await client.delete(f"/v1/projects/{pid}/app-users/{other['id']}", headers=admin_headers)
    assert revoked.status_code == 200
    # revoked in another process (the test's app): the live server sees it within its cache TTL
    from api.auth import FIELD_KEY_TTL
    time.sleep(FIELD_KEY_TTL + 0.2)
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        assert_openrosa(http.get(f"{base}/formList"), 401)


async def test_digest_login_for_collector_web_users(collect_setup, make_user, live_server) -> None:
    pid = collect_setup["pid"]
    collector = await make_user("collector", pid)
    base = f"{live_server.base_url}/v1/projects/{pid}"
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        challenge = http.get(f"{base}/formList")
        assert challenge.status_code == 401
        assert challenge.headers["WWW-Authenticate"].startswith("Digest ")
        assert "Basic" not in challenge.headers["WWW-Authenticate"]
        # no proxy is trusted by default: a forged X-Forwarded-Proto changes nothing
        forged = http.get(f"{base}/formList", headers={"X-Forwarded-Proto": "https"})
        assert "Basic" not in forged.headers["WWW-Authenticate"]
        wrong = http.get(f"{base}/formList", auth=httpx.DigestAuth(collector["email"], "wrong"))
        assert wrong.status_code == 401
    digest = httpx.DigestAuth(collector["email"], collector["password"])
    with httpx.Client(headers=COLLECT_HEADERS, auth=digest, timeout=30) as http:
        listing = http.get(f"{base}/formList")
        assert listing.status_code == 200 and b"collect_photo" in listing.content
        download = http.get(f"{base}/forms/collect_photo.xml")
        assert download.status_code == 200
    assert_openrosa(post_submission(base, submission_xml(new_instance_id()), auth=digest), 201)
    # Basic is refused over plain HTTP
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        basic = http.get(f"{base}/formList", auth=(collector["email"], collector["password"]))
        assert basic.status_code == 401


def read_qr(png: bytes) -> str:
    import io

    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1
    return found[0].text


async def test_app_user_qr_code_configures_collect(collect_setup, client, admin_headers) -> None:
    pid = collect_setup["pid"]
    app_user = collect_setup["app_user"]
    response = await client.get(f"/v1/projects/{pid}/app-users/{app_user['id']}/qr.png", headers=admin_headers)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    settings = decode_collect_settings(read_qr(response.content))
    assert settings["general"]["server_url"] == app_user["serverUrl"]
    assert settings["general"]["server_url"].endswith(f"/v1/key/{app_user['token']}/projects/{pid}")
    assert settings["project"]["name"].startswith("collect-")


async def test_cli_app_user_create_prints_url_and_writes_qr(collect_setup, database_url, data_dir, tmp_path) -> None:
    from tests.integration.test_cli import run_cli

    qr = tmp_path / "phone.png"
    result = run_cli(["app-user", "create", "--project", str(collect_setup["pid"]), "--name", "CLI phone",
                      "--qr", str(qr), "--base-url", collect_setup["server"].base_url], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    server_url = result.stdout.strip()
    assert server_url.startswith(f"{collect_setup['server'].base_url}/v1/key/")
    settings = decode_collect_settings(read_qr(qr.read_bytes()))
    assert settings["general"]["server_url"] == server_url
    # the printed URL works in Collect straight away: the bundled forms are assigned
    with httpx.Client(headers=COLLECT_HEADERS, timeout=30) as http:
        listing = http.get(f"{server_url}/formList")
    assert listing.status_code == 200 and b"collect_photo" in listing.content


async def test_over_the_accepted_length_is_413(settings, collect_setup) -> None:
    """A server with a small limit says so in HEAD and refuses bigger bodies with 413."""
    import dataclasses

    from litestar.testing import AsyncTestClient

    from api.app import create_app

    small = dataclasses.replace(settings, max_submission_bytes=4096)
    path = collect_setup["key_base"].split("/v1/", 1)[1]
    async with AsyncTestClient(app=create_app(small)) as small_client:
        head = await small_client.head(f"/v1/{path}/submission", headers=COLLECT_HEADERS)
        assert head.status_code == 204
        assert head.headers["X-OpenRosa-Accept-Content-Length"] == "4096"
        big = submission_xml(new_instance_id())
        response = await small_client.post(
            f"/v1/{path}/submission", headers=COLLECT_HEADERS,
            files=[("xml_submission_file", ("s.xml", big, "text/xml")),
                   ("photo.jpg", ("photo.jpg", b"x" * 10_000, "image/jpeg"))],
        )
        assert_openrosa(response, 413)


async def test_digest_headers_cannot_be_replayed_or_moved(collect_setup, make_user, live_server) -> None:
    pid = collect_setup["pid"]
    collector = await make_user("collector", pid)
    base = f"{live_server.base_url}/v1/projects/{pid}"
    digest = httpx.DigestAuth(collector["email"], collector["password"])
    with httpx.Client(headers=COLLECT_HEADERS, auth=digest, timeout=30) as http:
        first = http.get(f"{base}/formList")
        assert first.status_code == 200
        header = first.request.headers["Authorization"]
    with httpx.Client(headers={**COLLECT_HEADERS, "Authorization": header}, timeout=30) as http:
        assert http.get(f"{base}/formList").status_code == 401  # the same (nonce, nc) again
        assert http.get(f"{base}/forms/collect_photo.xml").status_code == 401  # another URI


async def test_rest_refuses_basic_over_plain_http(client, live_server) -> None:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    with httpx.Client(timeout=30) as http:
        plain = http.get(f"{live_server.base_url}/v1/projects", auth=(ADMIN_EMAIL, ADMIN_PASSWORD))
        assert plain.status_code == 401 and "HTTPS" in plain.json()["detail"]
        # a forged X-Forwarded-Proto from an untrusted peer changes nothing (no proxy is
        # trusted by default; tests/integration/test_hostile_input.py checks a trusted one)
        forged = http.get(f"{live_server.base_url}/v1/projects", auth=(ADMIN_EMAIL, ADMIN_PASSWORD),
                          headers={"X-Forwarded-Proto": "https"})
        assert forged.status_code == 401


async def test_media_names_are_percent_encoded_in_the_manifest(client, admin_headers, live_server) -> None:
    pid = (await client.post("/v1/projects", json={"name": f"media-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)).json()["id"]
    form = xlsx_bytes({"survey": [["type", "name", "label", "media::image"], ["note", "n", "Look", "my photo.png"]],
                       "settings": [["form_id"], ["spaced"]]})
    assert (await client.post(f"/v1/projects/{pid}/forms", content=form,
                              headers={**admin_headers, "Content-Type": XLSX})).status_code == 200
    assert (await client.post(f"/v1/projects/{pid}/forms/spaced/draft/attachments/my photo.png",
                              content=b"\x89PNG", headers={**admin_headers, "Content-Type": "image/png"})).status_code == 200
    assert (await client.post(f"/v1/projects/{pid}/forms/spaced/draft/publish", headers=admin_headers)).status_code == 200
    token = (await client.post("/v1/sessions", json={"email": "admin@test.example",
                                                     "password": "admin-password-for-tests"})).json()["token"]
    with httpx.Client(headers={**COLLECT_HEADERS, "Authorization": f"Bearer {token}"}, timeout=30) as http:
        manifest = http.get(f"{live_server.base_url}/v1/projects/{pid}/forms/spaced/manifest")
        url = ET.fromstring(manifest.content).find(f"{NS_MANIFEST}mediaFile").findtext(f"{NS_MANIFEST}downloadUrl")
        assert url.endswith("/attachments/my%20photo.png")
        assert http.get(url).content == b"\x89PNG"


async def test_phones_edit_only_their_own_submissions(collect_setup, client, admin_headers) -> None:
    pid = collect_setup["pid"]
    base = collect_setup["key_base"]
    original = new_instance_id()
    assert_openrosa(post_submission(base, submission_xml(original)), 201)
    other = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone 3"},
                               headers=admin_headers)).json()
    await client.post(f"/v1/projects/{pid}/forms/collect_photo/assignments/app-user/{other['id']}",
                      headers=admin_headers)
    other_base = base.replace(collect_setup["app_user"]["token"], other["token"])
    edit = submission_xml(new_instance_id(), age="99", deprecated_id=original)
    assert_openrosa(post_submission(other_base, edit), 403)
    assert_openrosa(post_submission(base, edit), 201)  # its own submitter may

"""Issue 12: where fieldsurvey differed from ODK Central for Central's own clients and test
scripts (pyodk's e2e suite, central-backend's test/e2e soak and standard, central-backend's
fixtures). One test per mismatch, each driving the HTTP API as those scripts do."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zipfile
from datetime import datetime
from urllib.parse import quote

import openpyxl
import pytest

OPENROSA = {"X-OpenRosa-Version": "1.0"}
XML = {"Content-Type": "application/xml"}


def xform(form_id: str, *, version_attr: str = 'version="1.0"', repeat: bool = False,
          files: bool = False) -> bytes:
    """A small XForm in the shape of central-backend's fixtures (`withrepeat`, `binaryType`)."""
    children = (
        "<children><child><name/><age/></child></children>" if repeat else ""
    )
    binds = (
        '<bind nodeset="/data/children/child/name" type="string"/>'
        '<bind nodeset="/data/children/child/age" type="int"/>' if repeat else ""
    )
    body = (
        '<group ref="/data/children"><repeat nodeset="/data/children/child">'
        '<input ref="/data/children/child/name"/><input ref="/data/children/child/age"/>'
        "</repeat></group>" if repeat else ""
    )
    if files:
        children += "<photo/>"
        binds += '<bind nodeset="/data/photo" type="binary"/>'
        body += '<upload ref="/data/photo" mediatype="image/*"/>'
    meta = "<meta><instanceID/>" + ("<audit/>" if files else "") + "</meta>"
    if files:
        binds += '<bind nodeset="/data/meta/audit" type="binary"/>'
    return (
        '<?xml version="1.0"?>'
        '<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
        'xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">'
        f"<h:head><h:title>{form_id}</h:title><model><instance>"
        f'<data id="{form_id}" {version_attr}>{meta}<name/><age/>{children}</data>'
        "</instance>"
        '<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" '
        'jr:preload="uid"/>'
        '<bind nodeset="/data/name" type="string"/><bind nodeset="/data/age" type="int"/>'
        f"{binds}</model></h:head>"
        '<h:body><input ref="/data/name"/><input ref="/data/age"/>'
        f"{body}</h:body></h:html>"
    ).encode()


def orx_submission(form_id: str, instance_id: str, inner: str = "", *, version: str = "1.0",
                   version_attr: str = "version") -> bytes:
    """As central-backend's fixtures write them: orx: used, never declared."""
    return (
        f'<data id="{form_id}" {version_attr}="{version}">'
        f"<orx:meta><orx:instanceID>{instance_id}</orx:instanceID></orx:meta>"
        f"<name>Alice</name><age>30</age>{inner}</data>"
    ).encode()


@pytest.fixture(scope="module")
async def project(client, admin_headers) -> int:
    created = await client.post(
        "/v1/projects", json={"name": f"dropin-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    assert created.status_code == 200, created.text
    return created.json()["id"]


async def publish(client, headers, pid: int, body: bytes) -> dict:
    response = await client.post(
        f"/v1/projects/{pid}/forms?publish=true", content=body, headers={**headers, **XML}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_projects_may_share_a_name(client, admin_headers) -> None:
    name = f"standard-test-{uuid.uuid4().hex[:6]}"
    first = await client.post("/v1/projects", json={"name": name}, headers=admin_headers)
    second = await client.post("/v1/projects", json={"name": name}, headers=admin_headers)
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["id"] != second.json()["id"]
    listed = await client.get("/v1/projects", headers=admin_headers)
    assert [p["name"] for p in listed.json()].count(name) == 2


async def test_orx_version_and_undeclared_orx_prefix(client, admin_headers, project) -> None:
    form = await publish(
        client, admin_headers, project, xform("orxver", version_attr='orx:version="2.5"')
    )
    assert form["version"] == "2.5"
    base = f"/v1/projects/{project}/forms/orxver/submissions"
    # REST, as central-backend's standard e2e test posts it
    made = await client.post(
        base + "?deviceID=testid", content=orx_submission("orxver", "good-id", version="2.5"),
        headers={**admin_headers, **XML},
    )
    assert made.status_code == 200, made.text
    assert made.json()["instanceId"] == "good-id" and made.json()["deviceId"] == "testid"
    # OpenRosa, with the version as orx:version on the submission's root too
    files = {"xml_submission_file": ("s.xml", orx_submission(
        "orxver", "second", version="2.5", version_attr="orx:version"), "text/xml")}
    posted = await client.post(
        f"/v1/projects/{project}/submission", files=files, headers={**admin_headers, **OPENROSA}
    )
    assert posted.status_code == 201, posted.text
    listed = await client.get(base, headers=admin_headers)
    assert sorted(s["instanceId"] for s in listed.json()) == ["good-id", "second"]
    stored = await client.get(f"{base}/good-id.xml", headers=admin_headers)
    assert stored.content == orx_submission("orxver", "good-id", version="2.5")  # as sent


async def test_rest_submission_accepts_multipart(client, admin_headers, project) -> None:
    await publish(client, admin_headers, project, xform("withfiles", files=True))
    xml = (
        b'<data id="withfiles" version="1.0"><meta><instanceID>uuid:mp-1</instanceID>'
        b"<audit>audit.csv</audit></meta><name>Bo</name><age>4</age>"
        b"<photo>face.jpg</photo></data>"
    )
    # the soak script's body, byte for byte in shape: a boundary, the XML part, no files
    soak_body = (
        b"--foo\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; "
        b"filename=\"submission.xml\"\r\nContent-Type: application/xml\r\n\r\n"
        + xml.replace(b"mp-1", b"mp-0") + b"\n\r\n--foo--"
    )
    base = f"/v1/projects/{project}/forms/withfiles/submissions"
    soak = await client.post(base, content=soak_body, headers={
        **admin_headers, **OPENROSA, "Content-Type": "multipart/form-data; boundary=foo"})
    assert soak.status_code == 200, soak.text
    assert soak.json()["instanceId"] == "uuid:mp-0"
    made = await client.post(base, files={
        "xml_submission_file": ("submission.xml", xml, "application/xml"),
        "face.jpg": ("face.jpg", b"\xff\xd8 jpeg", "image/jpeg"),
        "audit.csv": ("audit.csv", b"event,node,start\nform start,,1700000000000\n", "text/csv"),
    }, headers=admin_headers)
    assert made.status_code == 200, made.text
    attachments = await client.get(f"{base}/uuid:mp-1/attachments", headers=admin_headers)
    assert attachments.json() == [
        {"name": "audit.csv", "exists": True}, {"name": "face.jpg", "exists": True}
    ]
    photo = await client.get(f"{base}/uuid:mp-1/attachments/face.jpg", headers=admin_headers)
    assert photo.content == b"\xff\xd8 jpeg"
    missing = await client.post(base, files={"other": ("x.xml", xml, "text/xml")},
                                headers=admin_headers)
    assert missing.status_code == 400


async def test_csv_zip_as_central_writes_it(client, admin_headers, project) -> None:
    """Newest first, media/ (without the audit log) and the merged audit log, named {xmlFormId}.zip (the multipart
    test above stored the files)."""
    base = f"/v1/projects/{project}/forms/withfiles/submissions"
    later = (
        b'<data id="withfiles" version="1.0"><meta><instanceID>uuid:mp-2</instanceID></meta>'
        b"<name>Cy</name><age>5</age></data>"
    )
    made = await client.post(base, content=later, headers={**admin_headers, **XML})
    assert made.status_code == 200, made.text
    response = await client.get(f"{base}.csv.zip", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert 'filename="withfiles.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    # the audit log is merged only, not also under media/ (as Central's fixtures test)
    assert archive.namelist() == ["withfiles.csv", "media/face.jpg", "withfiles - audit.csv"]
    assert archive.read("media/face.jpg") == b"\xff\xd8 jpeg"
    rows = list(csv.DictReader(io.StringIO(archive.read("withfiles.csv").decode())))
    assert [r["KEY"] for r in rows] == ["uuid:mp-2", "uuid:mp-1", "uuid:mp-0"]
    audit = list(csv.reader(io.StringIO(archive.read("withfiles - audit.csv").decode())))
    assert audit == [
        ["instance ID", "event", "node", "start", "end", "latitude", "longitude", "accuracy",
         "old-value", "new-value", "user", "change-reason"],
        ["uuid:mp-1", "form start", "", "1700000000000", "", "", "", "", "", "", "", ""],
    ]
    plain = await client.get(f"{base}.csv.zip?attachments=false", headers=admin_headers)
    assert 'filename="withfiles.csv.zip"' in plain.headers["content-disposition"]
    assert zipfile.ZipFile(io.BytesIO(plain.content)).namelist() == ["withfiles.csv"]


async def test_csv_keeps_time_zone_offsets(client, admin_headers, project) -> None:
    body = xform("stamped").replace(
        b"<age/>", b"<age/><when/>"
    ).replace(b'<bind nodeset="/data/age" type="int"/>',
              b'<bind nodeset="/data/age" type="int"/>'
              b'<bind nodeset="/data/when" type="dateTime"/>')
    await publish(client, admin_headers, project, body)
    xml = orx_submission("stamped", "uuid:t1", "<when>2026-03-01T09:30:00.000+05:00</when>")
    base = f"/v1/projects/{project}/forms/stamped/submissions"
    assert (await client.post(base, content=xml, headers={**admin_headers, **XML})).status_code == 200
    response = await client.get(f"{base}.csv.zip", headers=admin_headers)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    row = next(csv.DictReader(io.StringIO(archive.read("stamped.csv").decode())))
    assert row["when"] == "2026-03-01T09:30:00.000+05:00"
    # XLSX: the local time as an Excel date, the offset beside it, the codebook says so
    book = openpyxl.load_workbook(io.BytesIO(
        (await client.get(f"{base}.xlsx", headers=admin_headers)).content))
    header, values = list(book["stamped"].iter_rows(values_only=True))[:2]
    cells = dict(zip(header, values, strict=True))
    assert cells["when"] == datetime(2026, 3, 1, 9, 30)
    assert cells["when (UTC offset)"] == "+05:00"
    assert isinstance(cells["SubmissionDate"], datetime) and isinstance(cells["Edits"], int)
    codebook = {r[1]: r for r in book["codebook"].iter_rows(values_only=True)}
    assert codebook["when, when (UTC offset)"][3] == "dateTime"
    assert codebook["SubmissionDate"][3] == "dateTime" and codebook["Edits"][3] == "int"


async def test_odata_as_central(client, admin_headers, project) -> None:
    await publish(client, admin_headers, project, xform("withrepeat", repeat=True))
    base = f"/v1/projects/{project}/forms/withrepeat"
    two = orx_submission("withrepeat", "two", "<children><child><name>Billy</name><age>4</age>"
                         "</child><child><name>Blaine</name><age>6</age></child></children>")
    three = orx_submission("withrepeat", "three", "<children><child><name>Candace</name>"
                           "<age>2</age></child></children>")
    for xml in (two, three):
        made = await client.post(f"{base}/submissions", content=xml,
                                 headers={**admin_headers, **XML})
        assert made.status_code == 200, made.text
    response = await client.get(f"{base}.svc/Submissions.children.child", headers=admin_headers)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["odata-version"] == "4.0"

    def central_id(instance_id: str, n: int) -> str:  # Central's rule: 0-based positions
        return hashlib.sha1(f"Submissions#{instance_id}%%children#%%child#{n}".encode()).hexdigest()

    rows = {(r["__Submissions-id"], r["name"]): r["__id"] for r in response.json()["value"]}
    assert rows == {
        ("two", "Billy"): central_id("two", 0),
        ("two", "Blaine"): central_id("two", 1),
        ("three", "Candace"): central_id("three", 0),
    }
    # the ids central-backend's own unit test expects for these rows
    assert rows[("two", "Billy")] == "cf9a1b5cc83c6d6270c1eb98860d294eac5d526d"
    assert rows[("three", "Candace")] == "beaedcdba519e6e6b8037605c9ae3f6a719984fa"
    one = await client.get(f"{base}.svc/Submissions('two')", headers=admin_headers)
    assert one.status_code == 200
    assert one.headers["content-type"] == "application/json; charset=utf-8"
    unknown = await client.get(f"{base}.svc/Submissions('unknown')", headers=admin_headers)
    assert unknown.status_code == 404


async def test_key_form_xml_without_openrosa_header(client, admin_headers, project) -> None:
    await publish(client, admin_headers, project, xform("keyed"))
    user = await client.post(f"/v1/projects/{project}/app-users",
                             json={"displayName": "phone"}, headers=admin_headers)
    token, actor_id = user.json()["token"], user.json()["id"]
    await client.post(f"/v1/projects/{project}/forms/keyed/assignments/app-user/{actor_id}",
                      headers=admin_headers)
    prefix = f"/v1/key/{token}/projects/{project}"
    plain = await client.get(f"{prefix}/forms/keyed.xml")
    assert plain.status_code == 200 and b'id="keyed"' in plain.content
    # formList still needs it, as in Central
    assert (await client.get(f"{prefix}/formList")).status_code == 400
    assert (await client.get(f"{prefix}/formList", headers=OPENROSA)).status_code == 200


async def test_ids_needing_percent_encoding(client, admin_headers, project) -> None:
    form_id = "a/b c%"
    await publish(client, admin_headers, project,
                  xform(form_id, version_attr='version="1/0 x"'))
    path = f"/v1/projects/{project}/forms/{quote(form_id, safe='')}"
    got = await client.get(path, headers=admin_headers)
    assert got.status_code == 200, got.text
    assert got.json()["xmlFormId"] == form_id and got.json()["version"] == "1/0 x"
    xml = orx_submission(form_id, "uuid:pct/1", version="1/0 x")
    made = await client.post(f"{path}/submissions", content=xml, headers={**admin_headers, **XML})
    assert made.status_code == 200, made.text
    one = await client.get(f"{path}/submissions/{quote('uuid:pct/1', safe='')}",
                           headers=admin_headers)
    assert one.status_code == 200 and one.json()["instanceId"] == "uuid:pct/1"
    rows = await client.get(f"{path}.svc/Submissions", headers=admin_headers)
    assert rows.status_code == 200, rows.text
    assert rows.json()["@odata.context"].endswith(f"{quote(form_id, safe='')}.svc/$metadata#Submissions")
    exported = await client.get(f"{path}/submissions.csv.zip", headers=admin_headers)
    assert exported.status_code == 200
    listing = await client.get(f"/v1/projects/{project}/formList",
                               headers={**admin_headers, **OPENROSA})
    assert f"forms/{quote(form_id, safe='')}.xml" in listing.text


async def test_form_versions_as_central(client, admin_headers, project) -> None:
    await publish(client, admin_headers, project, xform("versioned", version_attr='version="1"'))
    base = f"/v1/projects/{project}/forms/versioned"
    second = xform("versioned", version_attr='version="2 / beta"')
    drafted = await client.post(f"{base}/draft", content=second, headers={**admin_headers, **XML})
    assert drafted.status_code == 200, drafted.text
    assert (await client.post(f"{base}/draft/publish", headers=admin_headers)).status_code == 200
    listed = await client.get(f"{base}/versions", headers=admin_headers)
    assert listed.status_code == 200, listed.text
    assert [v["version"] for v in listed.json()] == ["2 / beta", "1"]
    assert all(v["publishedAt"] and v["xmlFormId"] == "versioned" for v in listed.json())
    one = await client.get(f"{base}/versions/{quote('2 / beta', safe='')}", headers=admin_headers)
    assert one.status_code == 200 and one.json()["version"] == "2 / beta"
    old = await client.get(f"{base}/versions/1.xml", headers=admin_headers)
    assert old.status_code == 200 and b'version="1"' in old.content
    assert (await client.get(f"{base}/versions/1.xlsx", headers=admin_headers)).status_code == 404
    assert (await client.get(f"{base}/versions/9", headers=admin_headers)).status_code == 404

"""central-backend's fixtures (tests/clients/central_fixtures.py) published here as XML,
their instances sent over REST and OpenRosa, and the exports and OData checked as
central-backend's own tests assert them (test/integration/api/submissions.js, odata.js,
forms.js), with the accepted differences of docs/compatibility.md."""

from __future__ import annotations

import io
import zipfile

import pytest

from forms.compile import java_available
from tests.conftest import require

from . import central_fixtures as fx

XML = {"Content-Type": "application/xml"}
STAMP = len("yyyy-mm-ddThh:mm:ss._msZ")


@pytest.fixture(scope="module")
async def project(client, admin_headers) -> int:
    made = await client.post("/v1/projects", json={"name": "central fixtures"},
                             headers=admin_headers)
    return made.json()["id"]


def csv_files(response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name: archive.read(name).decode() for name in archive.namelist()}


async def test_validate_complaints_on_an_xform_are_warnings(client, admin_headers, project):
    """Central never runs ODK Validate on an XForm: its `selectMultiple` (selects with no
    items, which JavaRosa refuses) is accepted with ignoreWarnings, as an XLSForm's warnings
    are; XML that is not an XForm is still refused."""
    require(java_available(), "java is not on PATH: ODK Validate needs it")
    url = f"/v1/projects/{project}/forms"
    warned = await client.post(url, content=fx.SELECT_MULTIPLE, headers={**admin_headers, **XML})
    assert warned.status_code == 400, warned.text
    body = warned.json()
    assert body["code"] == 400.16 and body["slug"] == "xform-has-warnings"
    assert any("has no choices" in w for w in body["details"]["warnings"]["xlsFormWarnings"])
    not_xform = await client.post(url + "?ignoreWarnings=true", content=b"<data id='x'/>",
                                  headers={**admin_headers, **XML})
    assert not_xform.status_code == 400 and not_xform.json()["code"] == 400.1

    accepted = await client.post(url + "?ignoreWarnings=true&publish=true",
                                 content=fx.SELECT_MULTIPLE, headers={**admin_headers, **XML})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["xmlFormId"] == "selectMultiple"
    for name in ("one", "two"):
        sent = await client.post(f"{url}/selectMultiple/submissions",
                                 content=fx.SELECT_MULTIPLE_INSTANCES[name].encode(),
                                 headers={**admin_headers, **XML})
        assert sent.status_code == 200, sent.text
    files = csv_files(await client.get(f"{url}/selectMultiple/submissions.csv.zip",
                                       headers=admin_headers))
    lines = files["selectMultiple.csv"].split("\n")
    assert lines[0] == (
        "SubmissionDate,meta-instanceID,q1,g1-q2,KEY,SubmitterID,SubmitterName,"
        "AttachmentsPresent,AttachmentsExpected,Status,ReviewState,DeviceID,Edits,FormVersion")
    assert lines[1][STAMP:].startswith(",two,b,m x,two,")
    assert lines[2][STAMP:].startswith(",one,a b,x y z,one,")


async def openrosa_submit(client, headers, project: int, xml: str,
                          files: dict[str, bytes] | None = None) -> None:
    parts = {"xml_submission_file": ("data.xml", xml.encode(), "text/xml")}
    for name, content in (files or {}).items():
        parts[name] = (name, content, "text/csv")
    sent = await client.post(f"/v1/projects/{project}/submission", files=parts,
                             headers={**headers, "X-OpenRosa-Version": "1.0"})
    assert sent.status_code == 201, sent.text


async def test_client_audits_are_merged_and_not_under_media(client, admin_headers, project):
    """central-backend: the zip holds `audits.csv` and `audits - audit.csv` only: the audit
    logs are merged, not also listed under media/."""
    made = await client.post(f"/v1/projects/{project}/forms?publish=true",
                             content=fx.CLIENT_AUDITS, headers={**admin_headers, **XML})
    assert made.status_code == 200, made.text
    for name, log in (("one", "audit.csv"), ("two", "log.csv")):
        await openrosa_submit(client, admin_headers, project, fx.CLIENT_AUDIT_INSTANCES[name],
                              {log: fx.CLIENT_AUDIT_LOGS[log].encode()})
    response = await client.get(f"/v1/projects/{project}/forms/audits/submissions.csv.zip",
                                headers=admin_headers)
    files = csv_files(response)
    assert list(files) == ["audits.csv", "audits - audit.csv"]
    assert files["audits - audit.csv"] == fx.MERGED_CLIENT_AUDIT


def system(name: str, **changes) -> dict:
    """`__system` as central-backend's OData tests expect it (dates and ids apart)."""
    return {"updatedAt": None, "deletedAt": None, "submitterName": name,
            "attachmentsPresent": 0, "attachmentsExpected": 0, "status": None,
            "reviewState": None, "deviceId": None, "edits": 0, "formVersion": "1.0", **changes}


async def test_withrepeat_odata_as_central(client, admin_headers, project):
    """central-backend's odata.js on `withrepeat`: the service document (with its charset),
    the top-level rows newest first, the repeat's rows with Central's own ids."""
    made = await client.post(f"/v1/projects/{project}/forms?publish=true",
                             content=fx.WITH_REPEAT, headers={**admin_headers, **XML})
    assert made.status_code == 200, made.text
    for name in ("one", "two", "three"):  # one over REST, the others as Collect sends them
        xml = fx.WITH_REPEAT_INSTANCES[name]
        if name == "one":
            sent = await client.post(f"/v1/projects/{project}/forms/withrepeat/submissions",
                                     content=xml.encode(), headers={**admin_headers, **XML})
            assert sent.status_code == 200, sent.text
        else:
            await openrosa_submit(client, admin_headers, project, xml)
    svc = f"/v1/projects/{project}/forms/withrepeat.svc"
    document = await client.get(svc, headers=admin_headers)
    assert document.status_code == 200
    assert document.headers["odata-version"] == "4.0"
    assert document.headers["content-type"] == (
        "application/json; charset=utf-8; odata.metadata=minimal")
    assert document.json()["value"] == [
        {"name": "Submissions", "kind": "EntitySet", "url": "Submissions"},
        {"name": "Submissions.children.child", "kind": "EntitySet",
         "url": "Submissions.children.child"},
    ]
    assert document.json()["@odata.context"].endswith(f"{svc}/$metadata")
    rows = (await client.get(f"{svc}/Submissions", headers=admin_headers)).json()["value"]
    for row in rows:
        assert row["__system"].pop("submissionDate")
        assert row["__system"].pop("submitterId")
    assert rows == [
        {"__id": "rthree", "__system": system("Administrator"), "meta": {"instanceID": "rthree"},
         "name": "Chelsea", "age": 38,
         "children": {"child@odata.navigationLink": "Submissions('rthree')/children/child"}},
        {"__id": "rtwo", "__system": system("Administrator"), "meta": {"instanceID": "rtwo"},
         "name": "Bob", "age": 34,
         "children": {"child@odata.navigationLink": "Submissions('rtwo')/children/child"}},
        {"__id": "rone", "__system": system("Administrator"), "meta": {"instanceID": "rone"},
         "name": "Alice", "age": 30, "children": {}},
    ]
    children = await client.get(f"{svc}/Submissions.children.child", headers=admin_headers)
    assert children.json()["value"] == [
        {"__id": "32809ae2b3dc404ea292205eb884b21fa4e9acc5", "__Submissions-id": "rthree",
         "name": "Candace", "age": 2},
        {"__id": "52eff9ea82550183880b9d64c20487642fa6e60c", "__Submissions-id": "rtwo",
         "name": "Billy", "age": 4},
        {"__id": "1291953ccbe2e5e866f7ab3fefa3036d649186d3", "__Submissions-id": "rtwo",
         "name": "Blaine", "age": 6},
    ]


async def publish(client, headers, project: int, form: bytes) -> None:
    made = await client.post(f"/v1/projects/{project}/forms?publish=true&ignoreWarnings=true",
                             content=form, headers={**headers, **XML})
    assert made.status_code == 200, made.text


async def test_every_fixture_form_is_published_as_xml(client, admin_headers):
    """Every form of central-backend's xml.js re-expressed here (entity forms: see
    tests/integration/test_entities_api.py) is published from its XML; the encrypted one is
    refused (docs/compatibility.md)."""
    project = (await client.post("/v1/projects", json={"name": "all central fixtures"},
                                 headers=admin_headers)).json()["id"]
    for form in fx.FORMS.values():
        await publish(client, admin_headers, project, form)
    listed = await client.get(f"/v1/projects/{project}/forms", headers=admin_headers)
    assert sorted(f["xmlFormId"] for f in listed.json()) == sorted(fx.FORMS)
    assert all(f["publishedAt"] for f in listed.json())
    refused = await client.post(f"/v1/projects/{project}/forms?ignoreWarnings=true",
                                content=fx.ENCRYPTED, headers={**admin_headers, **XML})
    assert refused.status_code == 400 and refused.json()["slug"] == "form-encrypted-unsupported"
    # withAttachments: the files directly under a jr:// root, as Central lists them
    await client.post(f"/v1/projects/{project}/forms/withAttachments/draft",
                      headers=admin_headers)
    files = await client.get(f"/v1/projects/{project}/forms/withAttachments/draft/attachments",
                             headers=admin_headers)
    assert [(f["name"], f["exists"]) for f in files.json()] == [
        ("goodone.csv", False), ("goodtwo.mp3", False)]


async def test_simple_over_rest_and_openrosa(client, admin_headers, project):
    """`simple` and `simple2`: instances over REST and over OpenRosa make the same rows; the
    CSV and OData as central-backend's submissions.js and odata.js assert them."""
    await publish(client, admin_headers, project, fx.SIMPLE)
    await publish(client, admin_headers, project, fx.SIMPLE2)
    rest = f"/v1/projects/{project}/forms/simple/submissions"
    for name in ("one", "three"):
        sent = await client.post(rest, content=fx.SIMPLE_INSTANCES[name].encode(),
                                 headers={**admin_headers, **XML})
        assert sent.status_code == 200, sent.text
    await openrosa_submit(client, admin_headers, project, fx.SIMPLE_INSTANCES["two"])
    for xml in fx.SIMPLE2_INSTANCES.values():
        await openrosa_submit(client, admin_headers, project, xml)
    lines = csv_files(await client.get(f"{rest}.csv.zip", headers=admin_headers))[
        "simple.csv"].split("\n")
    assert lines[0] == (
        "SubmissionDate,meta-instanceID,name,age,KEY,SubmitterID,SubmitterName,"
        "AttachmentsPresent,AttachmentsExpected,Status,ReviewState,DeviceID,Edits,FormVersion")
    assert [line[STAMP:].split(",")[1:5] for line in lines[1:4]] == [
        ["two", "Bob", "34", "two"], ["three", "Chelsea", "38", "three"],
        ["one", "Alice", "30", "one"]]
    assert lines[4] == ""
    rows = (await client.get(f"/v1/projects/{project}/forms/simple2.svc/Submissions",
                             headers=admin_headers)).json()["value"]
    assert [(r["__id"], r["name"], r["age"], r["__system"]["formVersion"]) for r in rows] == [
        ("s2three", "Chelsea", 38, "2.1"), ("s2two", "Bob", 34, "2.1"),
        ("s2one", "Alice", 30, "2.1")]


async def test_nested_repeats_and_groups_over_odata(client, admin_headers, project):
    """doubleRepeat, groupRepeat and nestedGroup as central-backend's odata.js reads them."""
    for form in (fx.DOUBLE_REPEAT, fx.GROUP_REPEAT, fx.NESTED_GROUP):
        await publish(client, admin_headers, project, form)
    base = f"/v1/projects/{project}/forms"
    for form_id, xml in (("doubleRepeat", fx.DOUBLE_REPEAT_INSTANCE),
                         ("groupRepeat", fx.GROUP_REPEAT_INSTANCE),
                         ("nestedGroup", fx.NESTED_GROUP_INSTANCE)):
        sent = await client.post(f"{base}/{form_id}/submissions?deviceID=testid",
                                 content=xml.encode(), headers={**admin_headers, **XML})
        assert sent.status_code == 200, sent.text
    svc = f"{base}/doubleRepeat.svc"
    one = (await client.get(f"{svc}/Submissions('double')", headers=admin_headers)).json()
    [row] = one["value"]
    assert row["__system"]["deviceId"] == "testid" and row["name"] == "Vick"
    assert row["children"] == {"child@odata.navigationLink": "Submissions('double')/children/child"}
    children = await client.get(f"{svc}/Submissions('double')/children/child?$select=__id,name",
                                headers=admin_headers)
    assert children.json()["value"] == [
        {"__id": "46ebf42ee83ddec5028c42b2c054402d1e700208", "name": "Alice"},
        {"__id": "b6e93a81a53eed0566e65e472d4a4b9ae383ee6d", "name": "Bob"},
        {"__id": "8954b393f82c1833abb19be08a3d6cb382171f54", "name": "Chelsea"},
    ]
    # Central also navigates below a repeat row (children/child('…')/toys/toy); here that is
    # a 404 naming the table to read instead (docs/compatibility.md): read it, by parent id
    below = await client.get(
        f"{svc}/Submissions('double')/children/child('8954b393f82c1833abb19be08a3d6cb382171f54')"
        "/toys/toy", headers=admin_headers)
    assert below.status_code == 404
    every_toy = (await client.get(f"{svc}/Submissions.children.child.toys.toy",
                                  headers=admin_headers)).json()["value"]
    assert len(every_toy) == 8
    assert [t["name"] for t in every_toy if t["__Submissions-children-child-id"]
            == "8954b393f82c1833abb19be08a3d6cb382171f54"] == [
        "Rainbow Dash", "Rarity", "Fluttershy", "Princess Luna"]
    address = await client.get(f"{base}/groupRepeat.svc/Submissions.child_repeat?$select=address",
                               headers=admin_headers)
    assert address.json()["value"] == [
        {"address": {"city": "Toronto", "country": "Canada"}},
        {"address": {"city": "New York", "country": "US"}}]
    hospital = await client.get(f"{base}/nestedGroup.svc/Submissions?$select=text,hospital",
                                headers=admin_headers)
    assert hospital.json()["value"] == [
        {"text": "xyz", "hospital": {"name": "AKUH", "hiv_medication": {
            "have_hiv_medication": "Yes"}}}]


async def test_binary_type_expects_its_files(client, admin_headers, project):
    """binaryType: each submission expects the files it names (submissions.js)."""
    await publish(client, admin_headers, project, fx.BINARY_TYPE)
    base = f"/v1/projects/{project}/forms/binaryType/submissions"
    for xml in fx.BINARY_TYPE_INSTANCES.values():
        sent = await client.post(base, content=xml.encode(), headers={**admin_headers, **XML})
        assert sent.status_code == 200, sent.text
    listed = await client.get(f"{base}/both/attachments", headers=admin_headers)
    assert listed.json() == [{"name": "here_is_file2.jpg", "exists": False},
                             {"name": "my_file1.mp4", "exists": False}]
    one = await client.get(f"{base}/bone/attachments", headers=admin_headers)
    assert one.json() == [{"name": "my_file1.mp4", "exists": False}]

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

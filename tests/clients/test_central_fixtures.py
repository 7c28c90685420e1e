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

"""What central-backend's own e2e scripts (test/e2e/soak and test/e2e/standard) check, re-expressed
against a live fieldsurvey server over HTTP, as those scripts talk to Central (CI cannot fetch
them; the originals were run by hand, see the notes). Smaller than the soak's rates, same shape:

- soak: an XForm with 250 text questions and no version, uploaded as a draft and published;
  submissions POSTed as multipart to REST .../forms/{id}/submissions (`xml_submission_file`
  with a boundary of "foo", `X-OpenRosa-Version`), concurrently: every one must succeed and all
  answers must be the same size; then concurrent CSV zip exports with
  `splitSelectMultiples=true&groupPaths=true&deletedFields=true`: all the same size.
- standard: two projects with the same name; an XForm published on upload; submissions whose
  `orx:` prefix is never declared, with `?deviceID=`; `Submissions('good-id')` over OData;
  an unknown key is 404 (Central's 404.1); a path without /v1 is 404.2.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

QUESTIONS = 250


def soak_form() -> bytes:
    fields = "".join(f"<q{n}/>" for n in range(1, QUESTIONS + 1))
    binds = "".join(f'<bind nodeset="/data/q{n}" type="string"/>' for n in range(1, QUESTIONS + 1))
    inputs = "".join(f'<input ref="/data/q{n}"><label>Q{n}</label></input>'
                     for n in range(1, QUESTIONS + 1))
    return (
        '<?xml version="1.0"?><h:html xmlns="http://www.w3.org/2002/xforms" '
        'xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">'
        "<h:head><h:title>250 questions</h:title><model><instance>"
        f'<data id="250_questions"><meta><instanceID/></meta>{fields}</data></instance>'
        '<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" '
        f'jr:preload="uid"/>{binds}</model></h:head><h:body>{inputs}</h:body></h:html>'
    ).encode()


def soak_body(n: int) -> bytes:
    answers = "".join(f"<q{q}>{(n * 31 + q * 7) % 9999}</q{q}>" for q in range(1, QUESTIONS + 1))
    xml = (f'<data id="250_questions">\n  <meta><instanceID>uuid:{uuid.uuid4()}</instanceID>'
           f"</meta>\n  {answers}\n</data>")
    return (
        '--foo\r\nContent-Disposition: form-data; name="xml_submission_file"; '
        'filename="submission.xml"\r\nContent-Type: application/xml\r\n\r\n'
        f"{xml}\n\r\n--foo--"
    ).encode()


@pytest.fixture(scope="module")
async def api(live_server):
    async with httpx.AsyncClient(base_url=live_server.base_url + "/v1", timeout=120) as http:
        session = await http.post("/sessions", json={"email": ADMIN_EMAIL,
                                                      "password": ADMIN_PASSWORD})
        http.headers["Authorization"] = f"Bearer {session.json()['token']}"
        yield http


async def test_soak_shape(api) -> None:
    project = (await api.post("/projects", json={"name": "soak-test"})).json()["id"]
    uploaded = await api.post(f"/projects/{project}/forms", content=soak_form(),
                              headers={"Content-Type": "application/xml"})
    assert uploaded.status_code == 200, uploaded.text
    form_id = uploaded.json()["xmlFormId"]
    published = await api.post(f"/projects/{project}/forms/{form_id}/draft/publish")
    assert published.status_code == 200 and published.json() == {"success": True}

    gate = asyncio.Semaphore(8)

    async def submit(n: int) -> httpx.Response:
        async with gate:
            return await api.post(
                f"/projects/{project}/forms/{form_id}/submissions", content=soak_body(n),
                headers={"Content-Type": "multipart/form-data; boundary=foo",
                         "X-OpenRosa-Version": "1.0"})

    answers = await asyncio.gather(*(submit(n) for n in range(60)))
    assert [r.status_code for r in answers] == [200] * 60, answers[0].text
    assert len({len(r.content) for r in answers}) == 1

    query = "splitSelectMultiples=true&groupPaths=true&deletedFields=true"
    exports = await asyncio.gather(*(
        api.get(f"/projects/{project}/forms/{form_id}/submissions.csv.zip?{query}")
        for _ in range(4)
    ))
    assert all(r.status_code == 200 for r in exports)
    assert len({len(r.content) for r in exports}) == 1
    rows = zipfile.ZipFile(io.BytesIO(exports[0].content)).read("250_questions.csv").splitlines()
    # SubmissionDate, meta-instanceID, the questions, then KEY and 9 more, as Central
    assert len(rows) == 61 and rows[0].count(b",") == QUESTIONS + 11


async def test_standard_shape(api, live_server) -> None:
    name = f"standard-test-{uuid.uuid4().hex[:4]}"
    first = await api.post("/projects", json={"name": name})
    second = await api.post("/projects", json={"name": name})
    assert first.status_code == second.status_code == 200
    project = second.json()["id"]
    form = (
        b'<?xml version="1.0"?><h:html xmlns="http://www.w3.org/2002/xforms" '
        b'xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa" '
        b'xmlns:orx="http://openrosa.org/xforms"><h:head><h:title>instanceId Test</h:title>'
        b'<model><instance><data id="test-form" version="20240506130956"><meta><instanceID/>'
        b'</meta></data></instance><instance id="image"><root></root></instance>'
        b'<bind nodeset="/data/meta/instanceID" type="string" readonly="true()" '
        b'jr:preload="uid"/></model></h:head><h:body></h:body></h:html>'
    )
    uploaded = await api.post(f"/projects/{project}/forms?publish=true", content=form,
                              headers={"Content-Type": "application/xml"})
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    for instance_id in ("good-id", "bad-id:"):
        xml = (f'<data id="{body["xmlFormId"]}" version="{body["version"]}">\n'
               f"  <orx:meta><orx:instanceID>{instance_id}</orx:instanceID></orx:meta>\n</data>")
        made = await api.post(
            f"/projects/{project}/forms/{body['xmlFormId']}/submissions?deviceID=testid",
            content=xml.encode(), headers={"Content-Type": "application/xml"})
        assert made.status_code == 200, made.text
    svc = f"/projects/{project}/forms/test-form.svc"
    assert (await api.get(f"{svc}/Submissions('good-id')")).status_code == 200
    # 'bad-id:' is stored, but Central's OData keys are letters, digits and dashes only.
    for key in ("nope", "bad-id:"):
        missing = await api.get(f"{svc}/Submissions('{key}')?%24select=__id%2C__system%2Cmeta")
        assert missing.status_code == 404 and missing.json()["code"] == 404.1
    async with httpx.AsyncClient() as bare:
        root = await bare.get(live_server.base_url)
    assert root.status_code == 404
    assert (root.json()["code"], root.json()["message"]) == (
        404.2, "Expected an API version (eg /v1) at the start of the request URL.")

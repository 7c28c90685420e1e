"""Public access links as ODK Central's REST API has them (create with displayName and once,
list, get, revoke; audited; a link is an actor that may submit to its one form through
/v1/key/{token}/), and draft test submissions kept apart from the data."""

from __future__ import annotations

import uuid

import pytest

from tests.summaries_seed import OPENROSA, screening_project, submission_xml
from tests.xlsforms import XLSX, simple_form


@pytest.fixture(scope="module")
async def project(client, admin_headers, make_user):
    pid = await screening_project(client, admin_headers, f"links-{uuid.uuid4().hex[:6]}")
    other = await client.post(
        f"/v1/projects/{pid}/forms?publish=true", content=simple_form("other_form"),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert other.status_code == 200, other.text
    manager = await make_user("manager", pid)
    collector = await make_user("collector", pid)
    return {"pid": pid, "manager": manager, "collector": collector,
            "base": f"/v1/projects/{pid}/forms/risk_screening/public-links"}


async def test_create_list_get_revoke_as_central(client, project, admin_headers) -> None:
    headers = project["manager"]["headers"]
    refused = await client.post(project["base"], json={"displayName": "x"},
                                headers=project["collector"]["headers"])
    assert refused.status_code == 403
    blank = await client.post(project["base"], json={"displayName": "  "}, headers=headers)
    assert blank.status_code == 400
    unknown_field = await client.post(project["base"], json={"displayName": "a", "bogus": 1},
                                      headers=headers)
    assert unknown_field.status_code == 400

    first = await client.post(project["base"], json={"displayName": "Hotline desk"}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["displayName"] == "Hotline desk" and body["type"] == "public_link"
    assert "once" not in body  # Central leaves it out unless given
    assert len(body["token"]) >= 40 and body["url"].endswith(f"/f/{body['token']}")
    second = await client.post(project["base"], json={"displayName": "Campaign", "once": True},
                               headers=headers)
    assert second.json()["once"] is True

    listed = await client.get(project["base"], headers=headers)
    assert [link["displayName"] for link in listed.json()] == ["Campaign", "Hotline desk"]
    extended = await client.get(project["base"], headers={**headers, "X-Extended-Metadata": "true"})
    assert extended.json()[0]["createdBy"]["id"] == project["manager"]["id"]
    one = await client.get(f"{project['base']}/{body['id']}", headers=headers)
    assert one.status_code == 200 and one.json()["token"] == body["token"]
    elsewhere = await client.get(
        f"/v1/projects/{project['pid']}/forms/other_form/public-links/{body['id']}", headers=headers)
    assert elsewhere.status_code == 404

    # the link submits to its form through /v1/key/{token}/, as an app user would ...
    key = f"/v1/key/{body['token']}/projects/{project['pid']}/submission"
    xml = submission_xml({"consent": "yes", "age": "30"})
    posted = await client.post(key, files={"xml_submission_file": ("s.xml", xml, "text/xml")},
                               headers=OPENROSA)
    assert posted.status_code == 201, posted.text
    # ... and to no other form
    other = (b'<data id="other_form" version="1"><age>3</age><meta><instanceID>uuid:'
             + uuid.uuid4().hex.encode() + b'</instanceID></meta></data>')
    denied = await client.post(key, files={"xml_submission_file": ("s.xml", other, "text/xml")},
                               headers=OPENROSA)
    assert denied.status_code == 403

    revoked = await client.delete(f"{project['base']}/{body['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json() == {"success": True}
    assert [link["displayName"] for link in (await client.get(project["base"], headers=headers)).json()] == ["Campaign"]
    again = await client.delete(f"{project['base']}/{body['id']}", headers=headers)
    assert again.status_code == 404
    xml = submission_xml({"consent": "yes", "age": "31"})
    after = await client.post(key, files={"xml_submission_file": ("s.xml", xml, "text/xml")},
                              headers=OPENROSA)
    assert after.status_code == 401  # the token is unknown now

    audits = await client.get("/v1/audits?action=public_link", headers=admin_headers)
    mine = [a for a in audits.json() if a["acteeId"] in (f"public_link/{body['id']}",
                                                          f"public_link/{second.json()['id']}")]
    assert sorted(a["action"] for a in mine) == ["public_link.create", "public_link.create",
                                                  "public_link.delete"]


async def test_draft_test_submissions_are_kept_apart(client, project, admin_headers, pool) -> None:
    pid = project["pid"]
    headers = project["manager"]["headers"]
    form = f"/v1/projects/{pid}/forms/risk_screening"
    none_yet = await client.get(form + "/draft/submissions", headers=headers)
    assert none_yet.status_code == 404  # no draft
    draft = await client.post(form + "/draft", headers=headers)
    assert draft.status_code == 200, draft.text
    before = await client.get(form + "/submissions", headers=headers)
    answers = {"consent": "yes", "age": "16", "worked_away": "yes", "c1_documents_taken": "yes",
               "situation_ongoing": "yes"}
    xml = submission_xml(answers)
    refused = await client.post(form + "/draft/submissions", content=xml,
                                headers={**project["collector"]["headers"], "Content-Type": "application/xml"})
    assert refused.status_code == 403
    posted = await client.post(form + "/draft/submissions", content=xml,
                               headers={**headers, "Content-Type": "application/xml"})
    assert posted.status_code == 200, posted.text
    listed = (await client.get(form + "/draft/submissions", headers=headers)).json()
    assert len(listed) == 1 and listed[0]["draft"] is True
    from forms.rubric import classify
    from forms.submission import parse_submission
    assert listed[0]["riskLevel"] == classify(parse_submission(xml).answers).risk_level
    after = await client.get(form + "/submissions", headers=headers)
    assert after.json() == before.json()  # not in the data
    rows = await pool.fetchval(
        "SELECT count(*) FROM submission_versions v JOIN forms f ON f.id = v.form_id "
        "WHERE f.project_id = $1 AND v.instance_id = $2", pid, parse_submission(xml).instance_id)
    assert rows == 0

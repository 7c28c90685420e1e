"""Central's REST submission API: create from raw XML, attachments, get/list, review, edits
(PUT with deprecatedID), versions, comments and the submission's audit log."""

from __future__ import annotations

import uuid

import pytest

from tests.household_form import FORM_ID, Household, household_xlsx
from tests.xlsforms import XLSX

XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
async def household(client, admin_headers, make_user):
    project = await client.post(
        "/v1/projects", json={"name": f"subs-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=household_xlsx(),
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    manager = await make_user("manager", pid)
    researcher = await make_user("researcher", pid)
    return {"pid": pid, "base": f"/v1/projects/{pid}/forms/{FORM_ID}/submissions",
            "manager": manager, "researcher": researcher}


async def create(client, household, record: Household, headers=None):
    return await client.post(
        household["base"] + "?deviceID=pyodk-test-device",
        content=record.xml(),
        headers={**(headers or household["manager"]["headers"]), **XML,
                 "User-Agent": "tests/1.0"},
    )


async def test_create_get_list_and_attachments(client, household) -> None:
    record = Household(name="Dilnoza", age=33)
    created = await create(client, household, record)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["instanceId"] == record.instance_id
    assert body["submitterId"] == household["manager"]["id"]
    assert body["deviceId"] == "pyodk-test-device"
    assert body["userAgent"] == "tests/1.0"
    assert body["reviewState"] is None and body["updatedAt"] is None
    assert body["instanceName"] == "Dilnoza 33"
    assert body["currentVersion"]["instanceId"] == record.instance_id
    assert body["currentVersion"]["current"] is True
    assert "attachments" not in body  # pyodk adds its own after uploading

    again = await create(client, household, record)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["slug"] == "submission-exists"

    base, iid = household["base"], record.instance_id
    reader = household["researcher"]["headers"]
    listed = await client.get(base, headers=reader)
    assert listed.status_code == 200
    mine = next(s for s in listed.json() if s["instanceId"] == iid)
    assert mine["attachments"] == [{"name": "photo.jpg", "exists": False}]

    attachments = await client.get(f"{base}/{iid}/attachments", headers=reader)
    assert attachments.json() == [{"name": "photo.jpg", "exists": False}]
    missing = await client.get(f"{base}/{iid}/attachments/photo.jpg", headers=reader)
    assert missing.status_code == 404

    uploaded = await client.post(
        f"{base}/{iid}/attachments/photo.jpg", content=b"\xff\xd8jpeg-bytes",
        headers={**household["manager"]["headers"], "Content-Type": "image/jpeg"},
    )
    assert uploaded.status_code == 200 and uploaded.json() == {"success": True}
    unknown = await client.post(
        f"{base}/{iid}/attachments/other.jpg", content=b"x", headers=household["manager"]["headers"]
    )
    assert unknown.status_code == 404
    researcher_upload = await client.post(
        f"{base}/{iid}/attachments/photo.jpg", content=b"x", headers=reader
    )
    assert researcher_upload.status_code == 403
    assert (await client.get(f"{base}/{iid}/attachments", headers=reader)).json() == [
        {"name": "photo.jpg", "exists": True}
    ]
    content = await client.get(f"{base}/{iid}/attachments/photo.jpg", headers=reader)
    assert content.status_code == 200 and content.content == b"\xff\xd8jpeg-bytes"
    assert content.headers["content-type"].startswith("image/jpeg")

    one = await client.get(f"{base}/{iid}", headers={**reader, "X-Extended-Metadata": "true"})
    assert one.status_code == 200
    assert one.json()["attachments"] == [{"name": "photo.jpg", "exists": True}]
    assert one.json()["submitter"]["id"] == household["manager"]["id"]
    xml = await client.get(f"{base}/{iid}.xml", headers=reader)
    assert xml.status_code == 200 and xml.content == record.xml()
    assert (await client.get(f"{base}/uuid:nothing", headers=reader)).status_code == 404


async def test_bad_creates(client, household) -> None:
    headers = household["manager"]["headers"]
    wrong_type = await client.post(household["base"], content=Household().xml(),
                                   headers={**headers, "Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    other_form = Household().xml().replace(f'id="{FORM_ID}"'.encode(), b'id="elsewhere"')
    mismatch = await client.post(household["base"], content=other_form, headers={**headers, **XML})
    assert mismatch.status_code == 400
    broken = await client.post(household["base"], content=b"<data", headers={**headers, **XML})
    assert broken.status_code == 400
    unknown_form = await client.post(
        f"/v1/projects/{household['pid']}/forms/nope/submissions", content=Household().xml(),
        headers={**headers, **XML},
    )
    assert unknown_form.status_code == 404
    researcher = await create(client, household, Household(), household["researcher"]["headers"])
    assert researcher.status_code == 403


async def test_review_edit_versions_comments(client, household) -> None:
    base = household["base"]
    manager = household["manager"]["headers"]
    reader = household["researcher"]["headers"]
    record = Household(name="Farrukh", age=51)
    assert (await create(client, household, record)).status_code == 200
    iid = record.instance_id
    await client.post(f"{base}/{iid}/attachments/photo.jpg", content=b"p1", headers=manager)

    for state in ("hasIssues", "approved"):
        reviewed = await client.patch(f"{base}/{iid}", json={"reviewState": state}, headers=manager)
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["reviewState"] == state
        assert reviewed.json()["updatedAt"] is not None
    for bad in ("edited", "received", "bogus"):
        refused = await client.patch(f"{base}/{iid}", json={"reviewState": bad}, headers=manager)
        assert refused.status_code == 400
    assert (await client.patch(f"{base}/{iid}", json={"reviewState": "rejected"},
                               headers=reader)).status_code == 403

    no_deprecated = await client.put(f"{base}/{iid}", content=Household().xml(),
                                     headers={**manager, **XML})
    assert no_deprecated.status_code == 400
    assert no_deprecated.json()["slug"] == "submission-deprecated-id-missing"

    edit = record.edited(age=52)
    edited = await client.put(f"{base}/{iid}", content=edit.xml(), headers={**manager, **XML})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["instanceId"] == iid
    assert body["reviewState"] == "edited"
    assert body["currentVersion"]["instanceId"] == edit.instance_id
    assert body["currentVersion"]["deprecatedId"] == record.instance_id
    assert body["currentVersion"]["formVersion"] == "1"
    assert body["instanceName"] == "Farrukh 52"
    # the photo was not sent again: it carries over to the new version
    assert (await client.get(f"{base}/{iid}/attachments", headers=reader)).json() == [
        {"name": "photo.jpg", "exists": True}
    ]
    stale = await client.put(f"{base}/{iid}", content=record.edited(age=60).xml(),
                             headers={**manager, **XML})
    assert stale.status_code == 409

    versions = await client.get(f"{base}/{iid}/versions", headers=reader)
    assert versions.status_code == 200
    assert [(v["instanceId"], v["current"]) for v in versions.json()] == [
        (edit.instance_id, True), (record.instance_id, False)
    ]
    assert versions.json()[0]["deprecatedId"] == record.instance_id
    old_xml = await client.get(f"{base}/{iid}/versions/{record.instance_id}.xml", headers=reader)
    assert old_xml.status_code == 200 and old_xml.content == record.xml()
    old = await client.get(f"{base}/{iid}/versions/{record.instance_id}", headers=reader)
    assert old.json()["current"] is False and old.json()["formVersion"] == "1"

    blank = await client.post(f"{base}/{iid}/comments", json={"body": "  "}, headers=manager)
    assert blank.status_code == 400
    first = await client.post(f"{base}/{iid}/comments", json={"body": "Check the age"}, headers=manager)
    assert first.status_code == 200
    assert first.json()["body"] == "Check the age"
    assert first.json()["actorId"] == household["manager"]["id"]
    await client.post(f"{base}/{iid}/comments", json={"body": "Fixed"}, headers=manager)
    comments = await client.get(f"{base}/{iid}/comments", headers=reader)
    assert [c["body"] for c in comments.json()] == ["Fixed", "Check the age"]
    assert (await client.post(f"{base}/{iid}/comments", json={"body": "hi"},
                              headers=reader)).status_code == 403

    history = await client.get(f"{base}/{iid}/audits", headers=reader)
    actions = [a["action"] for a in history.json()]
    for expected in ("submission.create", "submission.update", "submission.update.version",
                     "submission.comment.create", "submission.attachment.update"):
        assert expected in actions
    review = next(a for a in history.json() if a["details"] and
                  a["details"].get("reviewState") == "approved")
    assert review["details"]["previousReviewState"] == "hasIssues"
    assert review["actorId"] == household["manager"]["id"]


async def test_list_paging_is_newest_first(client, household) -> None:
    headers = household["manager"]["headers"]
    made = []
    for n in range(3):
        record = Household(name=f"Page {n}")
        assert (await create(client, household, record)).status_code == 200
        made.append(record.instance_id)
    first = await client.get(household["base"] + "?limit=2", headers=headers)
    second = await client.get(household["base"] + "?limit=2&offset=2", headers=headers)
    ids = [s["instanceId"] for s in first.json()] + [s["instanceId"] for s in second.json()]
    assert ids[:3] == list(reversed(made))
    assert (await client.get(household["base"] + "?limit=x", headers=headers)).status_code == 400

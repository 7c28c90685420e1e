"""pyodk (ODK's own Python client, unchanged) against a running fieldsurvey server: the scripts
researchers already have must work when only the URL changes."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pyodk.client import Client

from tests.household_form import FORM_ID, Household, household_xlsx
from tests.xlsforms import XLSX


@pytest.fixture(scope="module")
async def central(client, admin_headers, make_user, live_server, tmp_path_factory):
    project = await client.post(
        "/v1/projects", json={"name": f"pyodk-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=household_xlsx(), headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    manager = await make_user("manager", pid)
    folder = tmp_path_factory.mktemp("pyodk")
    config = folder / "pyodk_config.toml"
    config.write_text(
        "[central]\n"
        f'base_url = "{live_server.base_url}"\n'
        f'username = "{manager["email"]}"\n'
        f'password = "{manager["password"]}"\n'
        f"default_project_id = {pid}\n"
    )
    return {"pid": pid, "config": config, "cache": folder / "pyodk_cache.toml",
            "folder": folder, "manager": manager}


def open_client(central) -> Client:
    return Client(config_path=central["config"], cache_path=central["cache"])


def test_projects_and_forms(central) -> None:
    with open_client(central) as odk:
        projects = odk.projects.list()
        assert central["pid"] in [p.id for p in projects]
        forms = odk.forms.list()
        form = next(f for f in forms if f.xmlFormId == FORM_ID)
        assert form.version == "1" and form.state == "open" and form.projectId == central["pid"]
        assert odk.forms.get(FORM_ID).name == "Household (data API tests)"
    # the session token was cached and is reused
    assert "token" in central["cache"].read_text()
    with open_client(central) as odk:
        assert odk.projects.get().id == central["pid"]


def test_create_page_filter_review_edit_comment(central) -> None:
    photo = Path(central["folder"]) / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 a small jpeg")
    records = [Household(name=f"Person {n}", age=20 + n) for n in range(5)]
    with open_client(central) as odk:
        first = odk.submissions.create(
            xml=records[0].xml().decode(), form_id=FORM_ID, device_id="pyodk-device",
            attachments=[photo],
        )
        assert first.instanceId == records[0].instance_id
        assert first.submitterId == central["manager"]["id"]
        assert [(a.name, a.exists) for a in first.attachments] == [("photo.jpg", True)]
        for record in records[1:]:
            made = odk.submissions.create(xml=record.xml().decode(), form_id=FORM_ID)
            assert [(a.name, a.exists) for a in made.attachments] == [("photo.jpg", False)]

        listed = odk.submissions.list(form_id=FORM_ID)
        assert {s.instanceId for s in listed} == {r.instance_id for r in records}
        got = odk.submissions.get(records[0].instance_id, form_id=FORM_ID)
        assert got.deviceId == "pyodk-device" and got.userAgent.startswith("pyodk")
        assert got.instanceName == "Person 0 20"

        # paging: $top with $count, then the server's nextLink
        page = odk.submissions.get_table(form_id=FORM_ID, top=2, count=True)
        assert page["@odata.count"] == 5 and len(page["value"]) == 2
        seen = [row["__id"] for row in page["value"]]
        while "@odata.nextLink" in page:
            assert "$skiptoken" in parse_qs(urlsplit(page["@odata.nextLink"]).query)
            response = odk.session.get(page["@odata.nextLink"])
            assert response.status_code == 200
            page = response.json()
            seen += [row["__id"] for row in page["value"]]
        assert seen == [r.instance_id for r in reversed(records)]
        skipped = odk.submissions.get_table(form_id=FORM_ID, skip=3, top=5)
        assert [row["__id"] for row in skipped["value"]] == seen[3:]

        # review with a comment, then filter on the review state
        odk.submissions.review(records[1].instance_id, "approved", form_id=FORM_ID,
                               comment="Checked against the paper form")
        odk.submissions.review(records[2].instance_id, "hasIssues", form_id=FORM_ID)
        approved = odk.submissions.get_table(
            form_id=FORM_ID, filter="__system/reviewState eq 'approved'"
        )
        assert [row["__id"] for row in approved["value"]] == [records[1].instance_id]
        open_ones = odk.submissions.get_table(
            form_id=FORM_ID, count=True,
            filter="__system/reviewState eq null or __system/reviewState eq 'hasIssues'",
        )
        assert open_ones["@odata.count"] == 4
        created_at = approved["value"][0]["__system"]["submissionDate"]
        newer = odk.submissions.get_table(
            form_id=FORM_ID, filter=f"__system/submissionDate gt {created_at}"
        )
        assert [row["__id"] for row in newer["value"]] == [r.instance_id for r in records[:1:-1]]
        assert [c.body for c in odk.submissions.list_comments(
            records[1].instance_id, form_id=FORM_ID)] == ["Checked against the paper form"]

        # edit with a comment: a new version; the photo carries over
        edited = records[0].edited(age=99)
        odk.submissions.edit(records[0].instance_id, edited.xml().decode(), form_id=FORM_ID,
                             comment="Age corrected")
        after = odk.submissions.get(records[0].instance_id, form_id=FORM_ID)
        assert after.reviewState == "edited" and after.instanceName == "Person 0 99"
        assert [(a.name, a.exists) for a in after.attachments] == [("photo.jpg", True)]
        row = odk.submissions.get_table(
            form_id=FORM_ID, filter=f"__id eq '{records[0].instance_id}'", wkt=True
        )["value"][0]
        assert row["age"] == 99 and row["__system"]["edits"] == 1
        assert row["location"] == "POINT (68.78 38.56 800)"
        assert row["meta"]["instanceID"] == edited.instance_id

        comment = odk.submissions.add_comment(records[0].instance_id, "Second look done",
                                              form_id=FORM_ID)
        assert comment.body == "Second look done"
        assert comment.actorId == central["manager"]["id"]
        assert [c.body for c in odk.submissions.list_comments(
            records[0].instance_id, form_id=FORM_ID)] == ["Second look done", "Age corrected"]

        # a repeat table, expanded and flat, linked by keys
        members = odk.submissions.get_table(form_id=FORM_ID, table_name="Submissions.g1.member")
        assert len(members["value"]) == 10
        assert {m["__Submissions-id"] for m in members["value"]} == {r.instance_id for r in records}
        expanded = odk.submissions.get_table(form_id=FORM_ID, expand="*", top=1)
        assert [m["mname"] for m in expanded["value"][0]["g1"]["member"]] == ["Bob", "Cy"]
        selected = odk.submissions.get_table(form_id=FORM_ID, select="__id,age", top=1)
        assert set(selected["value"][0]) == {"__id", "age"}


def test_app_users_through_pyodk(central) -> None:
    with open_client(central) as odk:
        users = odk.projects.create_app_users(display_names=["Phone A", "Phone B"],
                                              forms=[FORM_ID])
        assert [u.displayName for u in users] == ["Phone A", "Phone B"]
        assert all(u.token and u.projectId == central["pid"] for u in users)
        # existing names are not created twice
        assert list(odk.projects.create_app_users(display_names=["Phone A"])) == []
        assigned = odk.get(f"projects/{central['pid']}/forms/{FORM_ID}/assignments/app-user")
        assert {a["actorId"] for a in assigned.json()} == {u.id for u in users}

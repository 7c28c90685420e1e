"""Who may use the data API: ministry viewers and data collectors get 403 on every endpoint of
it (submissions, attachments, comments, versions, OData, app users, the audit log);
researchers read; every successful read of microdata adds one audit row naming who read what;
the audit log is admin-only, filterable, and append-only in the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.household_form import FORM_ID, Household, household_xlsx
from tests.xlsforms import XLSX


@pytest.fixture(scope="module")
async def setup(client, admin_headers, make_user):
    project = await client.post(
        "/v1/projects", json={"name": f"roles-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=household_xlsx(), headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    record = Household(name="Roles")
    base = f"/v1/projects/{pid}/forms/{FORM_ID}/submissions"
    created = await client.post(base, content=record.xml(),
                                headers={**admin_headers, "Content-Type": "application/xml"})
    assert created.status_code == 200, created.text
    iid = record.instance_id
    await client.post(f"{base}/{iid}/attachments/photo.jpg", content=b"jpg", headers=admin_headers)
    await client.post(f"{base}/{iid}/comments", json={"body": "note"}, headers=admin_headers)
    app_user = await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone"},
                                 headers=admin_headers)
    users = {role: await make_user(role, pid) for role in ("ministry", "collector", "researcher")}
    return {"pid": pid, "base": base, "iid": iid, "record": record, "users": users,
            "app_user_id": app_user.json()["id"]}


def endpoints(setup) -> list[tuple[str, str, dict]]:
    """Every endpoint of the data API, with a request that would succeed for an admin."""
    pid, base, iid = setup["pid"], setup["base"], setup["iid"]
    one = f"{base}/{iid}"
    svc = f"/v1/projects/{pid}/forms/{FORM_ID}.svc"
    xml = {"content": Household().xml(), "headers": {"Content-Type": "application/xml"}}
    edit = {"content": setup["record"].edited(age=1).xml(),
            "headers": {"Content-Type": "application/xml"}}
    form_assignment = f"/v1/projects/{pid}/forms/{FORM_ID}/assignments/app-user/{setup['app_user_id']}"
    return [
        ("GET", base, {}),
        ("POST", base, xml),
        ("GET", one, {}),
        ("GET", f"{one}.xml", {}),
        ("PUT", one, edit),
        ("PATCH", one, {"json": {"reviewState": "approved"}}),
        ("GET", f"{one}/attachments", {}),
        ("GET", f"{one}/attachments/photo.jpg", {}),
        ("POST", f"{one}/attachments/photo.jpg", {"content": b"new"}),
        ("GET", f"{one}/comments", {}),
        ("POST", f"{one}/comments", {"json": {"body": "hello"}}),
        ("GET", f"{one}/versions", {}),
        ("GET", f"{one}/versions/{iid}", {}),
        ("GET", f"{one}/versions/{iid}.xml", {}),
        ("GET", f"{one}/audits", {}),
        ("GET", svc, {}),
        ("GET", f"{svc}/$metadata", {}),
        ("GET", f"{svc}/Submissions", {}),
        ("GET", f"{svc}/Submissions.g1.member", {}),
        ("GET", f"{svc}/Submissions('{iid}')", {}),
        ("GET", f"/v1/projects/{pid}/app-users", {}),
        ("POST", f"/v1/projects/{pid}/app-users", {"json": {"displayName": "x"}}),
        ("POST", form_assignment, {}),
        ("DELETE", form_assignment, {}),
        ("DELETE", f"/v1/projects/{pid}/app-users/{setup['app_user_id']}", {}),
        ("GET", "/v1/audits", {}),
    ]


@pytest.mark.parametrize("role", ["ministry", "collector"])
async def test_ministry_and_collector_get_403_everywhere(client, pool, setup, role) -> None:
    user = setup["users"][role]
    before = await pool.fetchval("SELECT count(*) FROM audits WHERE actor_id = $1", user["id"])
    failures = []
    for method, path, kwargs in endpoints(setup):
        headers = {**kwargs.get("headers", {}), **user["headers"]}
        request = {k: v for k, v in kwargs.items() if k != "headers"}
        response = await client.request(method, path, headers=headers, **request)
        if response.status_code != 403:
            failures.append(f"{method} {path}: {response.status_code}")
        elif not response.headers["content-type"].startswith("application/problem+json"):
            failures.append(f"{method} {path}: not problem+json")
    assert failures == []
    after = await pool.fetchval("SELECT count(*) FROM audits WHERE actor_id = $1", user["id"])
    assert after == before  # nothing was read, so nothing was logged as read


async def test_each_microdata_read_adds_an_audit_row(client, pool, setup) -> None:
    researcher = setup["users"]["researcher"]
    pid, base, iid = setup["pid"], setup["base"], setup["iid"]
    one = f"{base}/{iid}"
    svc = f"/v1/projects/{pid}/forms/{FORM_ID}.svc"
    reads = [
        (f"{base}", "submission.list"),
        (one, "submission.read"),
        (f"{one}.xml", "submission.read"),
        (f"{one}/attachments", "submission.attachment.list"),
        (f"{one}/attachments/photo.jpg", "submission.attachment.read"),
        (f"{one}/comments", "submission.comment.list"),
        (f"{one}/versions", "submission.version.list"),
        (f"{one}/versions/{iid}", "submission.version.read"),
        (f"{svc}/Submissions?$top=1", "odata.read"),
        (f"{svc}/Submissions.g1.member", "odata.read"),
        (f"{svc}/Submissions('{iid}')", "odata.read"),
    ]
    for path, action in reads:
        last = await pool.fetchval("SELECT coalesce(max(id), 0) FROM audits")
        started = datetime.now(UTC) - timedelta(seconds=1)
        response = await client.get(path, headers=researcher["headers"])
        assert response.status_code == 200, (path, response.text)
        rows = await pool.fetch(
            "SELECT actor_id, action, acted_on, details, logged_at FROM audits WHERE id > $1", last
        )
        assert len(rows) == 1, (path, rows)
        row = rows[0]
        assert row["actor_id"] == researcher["id"] and row["action"] == action, path
        assert row["logged_at"] >= started
        if action == "odata.read":
            assert row["acted_on"] == f"form/{pid}/{FORM_ID}"
        elif action != "submission.list":
            assert row["acted_on"] == f"submission/{pid}/{FORM_ID}/{iid}"
    # schema documents carry no microdata and are not logged as reads
    last = await pool.fetchval("SELECT coalesce(max(id), 0) FROM audits")
    for path in (svc, f"{svc}/$metadata"):
        assert (await client.get(path, headers=researcher["headers"])).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM audits WHERE id > $1", last) == 0
    # failed reads are not logged either
    missing = await client.get(f"{base}/uuid:missing", headers=researcher["headers"])
    assert missing.status_code == 404
    assert await pool.fetchval("SELECT count(*) FROM audits WHERE id > $1", last) == 0


async def test_audit_log_endpoint(client, pool, admin_headers, setup) -> None:
    researcher = setup["users"]["researcher"]
    start = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    read = await client.get(f"{setup['base']}/{setup['iid']}", headers=researcher["headers"])
    assert read.status_code == 200

    entries = await client.get("/v1/audits", params={"action": "submission.read", "start": start},
                               headers={**admin_headers, "X-Extended-Metadata": "true"})
    assert entries.status_code == 200
    mine = [e for e in entries.json() if e["actorId"] == researcher["id"]]
    assert mine and mine[0]["action"] == "submission.read"
    assert mine[0]["acteeId"] == f"submission/{setup['pid']}/{FORM_ID}/{setup['iid']}"
    assert mine[0]["actor"]["displayName"]
    assert {"actorId", "action", "acteeId", "details", "loggedAt"} <= set(mine[0])

    grouped = await client.get("/v1/audits", params={"action": "submission", "start": start},
                               headers=admin_headers)
    assert any(e["action"] == "submission.read" for e in grouped.json())
    assert all(e["action"].startswith("submission.") for e in grouped.json())
    logins = await client.get("/v1/audits", params={"action": "user.session.create"},
                              headers=admin_headers)
    assert logins.json() and all(e["action"] == "user.session.create" for e in logins.json())
    limited = await client.get("/v1/audits", params={"limit": "2"}, headers=admin_headers)
    assert len(limited.json()) == 2
    times = [e["loggedAt"] for e in (await client.get("/v1/audits?limit=20",
                                                       headers=admin_headers)).json()]
    assert times == sorted(times, reverse=True)
    ended = await client.get("/v1/audits", params={"end": "2000-01-01z"}, headers=admin_headers)
    assert ended.status_code == 200 and ended.json() == []
    # an end date names the last day included (forms/vocabulary.py), as everywhere
    today = datetime.now(UTC).date().isoformat()
    through_today = await client.get("/v1/audits", params={"action": "submission.read", "end": today},
                                     headers=admin_headers)
    assert any(e["actorId"] == researcher["id"] for e in through_today.json())
    future = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await client.get("/v1/audits", params={"start": future},
                             headers=admin_headers)).json() == []
    bad = await client.get("/v1/audits", params={"start": "yesterday"}, headers=admin_headers)
    assert bad.status_code == 400
    for role in ("researcher", "ministry", "collector"):
        denied = await client.get("/v1/audits", headers=setup["users"][role]["headers"])
        assert denied.status_code == 403


async def test_audit_log_is_append_only(pool) -> None:
    async with pool.acquire() as conn:
        for statement in ("UPDATE audits SET action = 'forged'",
                          "DELETE FROM audits",
                          "TRUNCATE audits"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    assert await pool.fetchval("SELECT count(*) FROM audits WHERE action = 'forged'") == 0
    assert await pool.fetchval("SELECT count(*) FROM audits") > 0

"""Entity lists and entities over REST, as ODK Central answers (central-backend's
test/integration/api/datasets.js and entities.js, re-expressed)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
async def project(client, admin_headers) -> int:
    made = await client.post(
        "/v1/projects", json={"name": f"entities-{uuid.uuid4().hex[:8]}"}, headers=admin_headers
    )
    return made.json()["id"]


async def _list(client, headers, pid, name="people", props=("first_name", "age")):
    made = await client.post(f"/v1/projects/{pid}/datasets", json={"name": name},
                             headers=headers)
    assert made.status_code == 200, made.text
    for prop in props:
        added = await client.post(f"/v1/projects/{pid}/datasets/{name}/properties",
                                  json={"name": prop}, headers=headers)
        assert added.status_code == 200 and added.json() == {"success": True}


async def test_dataset_create_get_list_and_names(client, admin_headers, project) -> None:
    await _list(client, admin_headers, project)
    got = (await client.get(f"/v1/projects/{project}/datasets/people", headers=admin_headers)).json()
    assert got["name"] == "people" and got["approvalRequired"] is False
    assert [p["name"] for p in got["properties"]] == ["first_name", "age"]
    assert got["properties"][0]["forms"] == [] and got["sourceForms"] == []
    listed = await client.get(f"/v1/projects/{project}/datasets",
                              headers={**admin_headers, "X-Extended-Metadata": "true"})
    assert [(d["name"], d["entities"]) for d in listed.json()] == [("people", 0)]

    again = await client.post(f"/v1/projects/{project}/datasets", json={"name": "people"},
                              headers=admin_headers)
    assert again.status_code == 409 and again.json()["code"] in ("dataset-exists", 409.3)
    case = await client.post(f"/v1/projects/{project}/datasets", json={"name": "People"},
                             headers=admin_headers)
    assert case.status_code == 409
    for bad in ("__x", "1abc", "a.b", "", None):
        refused = await client.post(f"/v1/projects/{project}/datasets", json={"name": bad},
                                    headers=admin_headers)
        assert refused.status_code == 400, bad
    for bad in ("name", "Label", "__p", "a b"):
        refused = await client.post(f"/v1/projects/{project}/datasets/people/properties",
                                    json={"name": bad}, headers=admin_headers)
        assert refused.status_code == 400, bad
    dup = await client.post(f"/v1/projects/{project}/datasets/people/properties",
                            json={"name": "age"}, headers=admin_headers)
    assert dup.status_code == 409
    missing = await client.get(f"/v1/projects/{project}/datasets/nobody", headers=admin_headers)
    assert missing.status_code == 404
    patched = await client.patch(f"/v1/projects/{project}/datasets/people",
                                 json={"approvalRequired": True}, headers=admin_headers)
    assert patched.status_code == 200 and patched.json()["approvalRequired"] is True


async def test_entity_create_update_conflict_delete_restore(client, admin_headers, project) -> None:
    await _list(client, admin_headers, project)
    base = f"/v1/projects/{project}/datasets/people/entities"
    made = await client.post(base, json={"label": "Alice", "data": {"first_name": "Alice"}},
                             headers={**admin_headers, "User-Agent": "test-agent"})
    assert made.status_code == 200, made.text
    entity = made.json()
    eid = entity["uuid"]
    assert entity["currentVersion"]["version"] == 1
    assert entity["currentVersion"]["data"] == {"first_name": "Alice"}
    assert entity["currentVersion"]["userAgent"] == "test-agent"

    # refused: unknown property, non-string value, blank label, extra keys, reused uuid
    for body in ({"label": "x", "data": {"nope": "1"}}, {"label": "x", "data": {"age": 3}},
                 {"label": " "}, {"label": "x", "extra": 1}, {"uuid": eid, "label": "x"},
                 {"uuid": "not-a-uuid", "label": "x"}, {"data": {"age": "3"}}):
        refused = await client.post(base, json=body, headers=admin_headers)
        assert refused.status_code in (400, 409), (body, refused.text)

    stale = await client.patch(f"{base}/{eid}?baseVersion=7", json={"label": "A"},
                               headers=admin_headers)
    assert stale.status_code == 409 and stale.json()["current"] == "1"
    no_version = await client.patch(f"{base}/{eid}", json={"label": "A"}, headers=admin_headers)
    assert no_version.status_code == 409
    updated = await client.patch(f"{base}/{eid}?baseVersion=1",
                                 json={"data": {"age": "30"}}, headers=admin_headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["currentVersion"]["data"] == {"first_name": "Alice", "age": "30"}
    assert updated.json()["currentVersion"]["baseVersion"] == 1
    forced = await client.patch(f"{base}/{eid}?force=true", json={"label": "Alice B"},
                                headers=admin_headers)
    assert forced.json()["currentVersion"]["version"] == 3
    assert forced.json()["currentVersion"]["label"] == "Alice B"

    versions = (await client.get(f"{base}/{eid}/versions", headers=admin_headers)).json()
    assert [(v["version"], v["baseVersion"], v["current"]) for v in versions] == [
        (1, None, False), (2, 1, False), (3, 2, True)]
    assert versions[1]["dataReceived"] == {"age": "30"}
    assert [v["conflict"] for v in versions] == [None, None, None]
    diffs = (await client.get(f"{base}/{eid}/diffs", headers=admin_headers)).json()
    assert diffs == [[{"old": None, "new": "30", "propertyName": "age"}],
                     [{"old": "Alice", "new": "Alice B", "propertyName": "label"}]]
    no_conflict = await client.patch(f"{base}/{eid}?baseVersion=3&resolve=true", json={},
                                     headers=admin_headers)
    assert no_conflict.status_code == 400

    assert (await client.delete(f"{base}/{eid}", headers=admin_headers)).json() == {"success": True}
    assert (await client.get(f"{base}/{eid}", headers=admin_headers)).status_code == 404
    deleted = (await client.get(f"{base}?deleted=true", headers=admin_headers)).json()
    assert [e["uuid"] for e in deleted] == [eid] and deleted[0]["deletedAt"] is not None
    reuse = await client.post(base, json={"uuid": eid, "label": "again"}, headers=admin_headers)
    assert reuse.status_code == 409
    restored = await client.post(f"{base}/{eid}/restore", headers=admin_headers)
    assert restored.status_code == 200
    assert (await client.get(f"{base}/{eid}", headers=admin_headers)).status_code == 200

    actions = [a["action"] for a in
               (await client.get(f"{base}/{eid}/audits", headers=admin_headers)).json()]
    for expected in ("entity.create", "entity.update.version", "entity.delete", "entity.restore",
                     "entity.read", "entity.version.read"):
        assert expected in actions


async def test_bulk_csv_odata_and_roles(client, admin_headers, make_user, project) -> None:
    await _list(client, admin_headers, project, "cities", ("state",))
    base = f"/v1/projects/{project}/datasets/cities"
    bulk = await client.post(f"{base}/entities", headers=admin_headers, json={
        "entities": [{"label": "Sydney", "data": {"state": "NSW"}},
                     {"label": "Darwin", "data": {"state": "NT"}}],
        "source": {"name": "cities.csv", "size": 2}})
    assert bulk.status_code == 200 and bulk.json() == {"success": True}
    empty = await client.post(f"{base}/entities", json={"entities": [], "source": {"name": "x"}},
                              headers=admin_headers)
    assert empty.status_code == 400
    unsourced = await client.post(f"{base}/entities", json={"entities": [{"label": "x"}]},
                                  headers=admin_headers)
    assert unsourced.status_code == 400

    csv_response = await client.get(f"{base}/entities.csv", headers=admin_headers)
    lines = csv_response.text.splitlines()
    assert lines[0] == ("__id,label,state,__createdAt,__creatorId,__creatorName,__updates,"
                        "__updatedAt,__version")
    assert sorted(line.split(",")[1:3] for line in lines[1:]) == [["Darwin", "NT"],
                                                                   ["Sydney", "NSW"]]
    etag = csv_response.headers["etag"]
    cached = await client.get(f"{base}/entities.csv",
                              headers={**admin_headers, "If-None-Match": etag})
    assert cached.status_code == 304

    table = (await client.get(f"{base}.svc/Entities?$count=true&$top=1",
                              headers=admin_headers)).json()
    assert table["@odata.count"] == 2 and len(table["value"]) == 1 and "@odata.nextLink" in table
    row = table["value"][0]
    assert set(row) == {"__id", "label", "__system", "state"}
    assert row["__system"]["version"] == 1
    selected = (await client.get(f"{base}.svc/Entities?$select=__id,label",
                                 headers=admin_headers)).json()
    assert all(set(r) == {"__id", "label"} for r in selected["value"])
    bad_select = await client.get(f"{base}.svc/Entities?$select=nope", headers=admin_headers)
    assert bad_select.status_code == 400
    assert bad_select.json()["detail"] == "Could not find a property named 'nope'"
    russian = await client.get(f"{base}.svc/Entities?$select=nope",
                               headers={**admin_headers, "Accept-Language": "ru"})
    assert russian.json()["detail"] == "Свойство с именем 'nope' не найдено"
    metadata = await client.get(f"{base}.svc/$metadata", headers=admin_headers)
    assert '<Property Name="state" Type="Edm.String"/>' in metadata.text
    service_doc = (await client.get(f"{base}.svc", headers=admin_headers)).json()
    assert service_doc["value"][0]["name"] == "Entities"

    researcher = await make_user("researcher", project)
    ministry = await make_user("ministry", project)
    assert (await client.get(f"{base}/entities", headers=researcher["headers"])).status_code == 200
    assert (await client.post(f"{base}/entities", json={"label": "x"},
                              headers=researcher["headers"])).status_code == 403
    assert (await client.get(f"{base}/entities", headers=ministry["headers"])).status_code == 403
    assert (await client.get(f"{base}.svc/Entities",
                             headers=ministry["headers"])).status_code == 403

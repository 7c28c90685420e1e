"""Entities from submissions: publishing creates the list, a submission creates or updates its
entity in the same transaction, conflicts and offline branches are recorded as Central records
them, approvalRequired waits for approval, and Collect gets the list as {list}.csv."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.xlsforms import XLSX, xlsx_bytes

OR = {"X-OpenRosa-Version": "1.0"}


def intake_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "save_to"],
                   ["text", "code", "Code", "case_code"],
                   ["text", "stage", "Stage", "stage"]],
        "entities": [["list_name", "label"], ["cases", "${code}"]],
        "settings": [["form_id", "version"], ["ent_intake", "1"]],
    })


def followup_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "save_to"],
                   ["select_one_from_file cases.csv", "case", "Case", ""],
                   ["text", "stage", "Stage", "stage"],
                   ["text", "note_text", "Note", "notes"]],
        "entities": [["list_name", "entity_id"], ["cases", "${case}"]],
        "settings": [["form_id", "version"], ["ent_followup", "1"]],
    })


def intake_xml(entity_id: str, code: str, stage: str = "intake") -> bytes:
    return (
        f'<data id="ent_intake" version="1"><code>{code}</code><stage>{stage}</stage>'
        f'<meta><instanceID>uuid:{uuid.uuid4()}</instanceID>'
        f'<entity dataset="cases" id="{entity_id}" create="1"><label>{code}</label></entity>'
        "</meta></data>"
    ).encode()


def followup_xml(entity_id: str, base: int | str, stage: str, note: str = "", *,
                 trunk: int | str = "", branch: str = "", instance_id: str | None = None) -> bytes:
    return (
        f'<data id="ent_followup" version="1"><case>{entity_id}</case><stage>{stage}</stage>'
        f"<note_text>{note}</note_text>"
        f"<meta><instanceID>{instance_id or f'uuid:{uuid.uuid4()}'}</instanceID>"
        f'<entity dataset="cases" id="{entity_id}" update="1" baseVersion="{base}" '
        f'trunkVersion="{trunk}" branchId="{branch}"/></meta></data>'
    ).encode()


@pytest.fixture
async def cases(client, admin_headers):
    made = await client.post("/v1/projects", json={"name": f"cases-{uuid.uuid4().hex[:8]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    for body in (intake_form(), followup_form()):
        up = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                               content=body, headers={**admin_headers, "Content-Type": XLSX})
        assert up.status_code == 200, up.text
    return pid


async def submit(client, headers, pid, form, xml):
    response = await client.post(f"/v1/projects/{pid}/forms/{form}/submissions", content=xml,
                                 headers={**headers, "Content-Type": "application/xml"})
    assert response.status_code == 200, response.text
    return response


async def entity(client, headers, pid, eid):
    got = await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{eid}", headers=headers)
    return got


async def manifest_hash(client, headers, pid) -> tuple[str, ET.Element]:
    got = await client.get(f"/v1/projects/{pid}/forms/ent_followup/manifest",
                           headers={**headers, **OR})
    assert got.status_code == 200, got.text
    root = ET.fromstring(got.content)
    ns = {"m": "http://openrosa.org/xforms/xformsManifest"}
    media = root.find("m:mediaFile", ns)
    return media.find("m:hash", ns).text, media


async def test_publish_creates_list_and_submissions_write_entities(client, admin_headers, cases, pool) -> None:
    pid = cases
    got = (await client.get(f"/v1/projects/{pid}/datasets/cases", headers=admin_headers)).json()
    assert [p["name"] for p in got["properties"]] == ["case_code", "stage", "notes"]
    assert {f["xmlFormId"] for f in got["sourceForms"]} == {"ent_intake", "ent_followup"}
    assert [f["xmlFormId"] for f in got["linkedForms"]] == ["ent_followup"]
    stage_prop = next(p for p in got["properties"] if p["name"] == "stage")
    assert {f["xmlFormId"] for f in stage_prop["forms"]} == {"ent_intake", "ent_followup"}

    eid = str(uuid.uuid4())
    hash0, media = await manifest_hash(client, admin_headers, pid)
    assert media.get("type") == "entityList"
    ns = "{http://openrosa.org/xforms/xformsManifest}"
    assert media.find(f"{ns}integrityUrl").text.endswith(f"/v1/projects/{pid}/datasets/cases/integrity")
    await submit(client, admin_headers, pid, "ent_intake", intake_xml(eid, "DU-0001"))
    first = (await entity(client, admin_headers, pid, eid)).json()
    assert first["currentVersion"]["label"] == "DU-0001"
    assert first["currentVersion"]["data"] == {"case_code": "DU-0001", "stage": "intake"}

    hash1, _ = await manifest_hash(client, admin_headers, pid)
    assert hash1 != hash0
    served = await client.get(f"/v1/projects/{pid}/forms/ent_followup/attachments/cases.csv",
                              headers={**admin_headers, **OR})
    rows = list(csv.reader(io.StringIO(served.text)))
    assert rows == [["name", "label", "__version", "case_code", "stage", "notes"],
                    [eid, "DU-0001", "1", "DU-0001", "intake", ""]]

    await submit(client, admin_headers, pid, "ent_followup", followup_xml(eid, 1, "shelter"))
    second = (await entity(client, admin_headers, pid, eid)).json()
    assert second["currentVersion"]["version"] == 2 and second["conflict"] is None
    assert second["currentVersion"]["data"]["stage"] == "shelter"
    assert second["currentVersion"]["label"] == "DU-0001"  # no label in the update: kept

    # another phone still had version 1: applied, and recorded as a conflict
    await submit(client, admin_headers, pid, "ent_followup",
                 followup_xml(eid, 1, "training", "called"))
    third = (await entity(client, admin_headers, pid, eid)).json()
    assert third["currentVersion"]["version"] == 3 and third["conflict"] == "hard"
    # as Central: "notes" was absent at version 1 and "" at version 2, so both sides wrote it
    assert sorted(third["currentVersion"]["conflictingProperties"]) == ["notes", "stage"]
    assert third["currentVersion"]["data"]["stage"] == "training"
    versions = (await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{eid}/versions",
                                 headers=admin_headers)).json()
    assert [(v["version"], v["baseVersion"], v["conflict"]) for v in versions] == [
        (1, None, None), (2, 1, None), (3, 1, "hard")]
    assert versions[2]["source"]["submission"]["xmlFormId"] == "ent_followup"
    assert versions[1]["lastGoodVersion"] is True
    resolved = await client.patch(
        f"/v1/projects/{pid}/datasets/cases/entities/{eid}?baseVersion=3&resolve=true",
        json={}, headers=admin_headers)
    assert resolved.status_code == 200 and resolved.json()["conflict"] is None
    versions = (await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{eid}/versions",
                                 headers=admin_headers)).json()
    assert versions[2]["resolved"] is True

    # an offline branch: two updates on one phone from trunk version 3; the second arrives
    # first and is held until the first arrives, then both apply in order
    branch = str(uuid.uuid4())
    await submit(client, admin_headers, pid, "ent_followup",
                 followup_xml(eid, 4, "employed", trunk=3, branch=branch))
    held = (await entity(client, admin_headers, pid, eid)).json()
    assert held["currentVersion"]["version"] == 3
    await submit(client, admin_headers, pid, "ent_followup",
                 followup_xml(eid, 3, "returned", trunk=3, branch=branch))
    after = (await entity(client, admin_headers, pid, eid)).json()
    assert after["currentVersion"]["version"] == 5 and after["conflict"] is None
    assert after["currentVersion"]["data"]["stage"] == "employed"
    versions = (await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{eid}/versions",
                                 headers=admin_headers)).json()
    assert [(v["version"], v["baseVersion"], v["branchBaseVersion"]) for v in versions[3:]] == [
        (4, 3, 3), (5, 4, 4)]

    # an update of an entity nobody created: the submission is kept, the error audited
    ghost = str(uuid.uuid4())
    await submit(client, admin_headers, pid, "ent_followup", followup_xml(ghost, 1, "x"))
    errors = await pool.fetch(
        "SELECT details FROM audits WHERE action = 'entity.error' AND acted_on LIKE $1",
        f"submission/{pid}/ent_followup/%")
    assert [e["details"]["problem"] for e in errors] == ["submission-entity-not-found"]

    # the phone learns which of its entities were deleted
    await client.delete(f"/v1/projects/{pid}/datasets/cases/entities/{eid}", headers=admin_headers)
    integrity = await client.get(f"/v1/projects/{pid}/datasets/cases/integrity?id={eid}",
                                 headers={**admin_headers, **OR})
    assert integrity.status_code == 200
    node = ET.fromstring(integrity.content).find("entities/entity")
    assert node.get("id") == eid and node.find("deleted").text == "true"
    hash2, _ = await manifest_hash(client, admin_headers, pid)
    assert hash2 != hash1


async def test_one_transaction_and_approval(client, admin_headers, cases, pool) -> None:
    pid = cases
    eid = str(uuid.uuid4())
    # a failing entity write (blank label) never loses the submission
    await submit(client, admin_headers, pid, "ent_intake", intake_xml(eid, ""))
    assert (await entity(client, admin_headers, pid, eid)).status_code == 404
    count = await pool.fetchval(
        "SELECT count(*) FROM submissions s JOIN forms f ON f.id = s.form_id "
        "WHERE f.project_id = $1 AND f.xml_form_id = 'ent_intake'", pid)
    assert count == 1

    # a second intake that reuses an entity's uuid is stored; the entity is not overwritten
    first = str(uuid.uuid4())
    await submit(client, admin_headers, pid, "ent_intake", intake_xml(first, "DU-0100"))
    await submit(client, admin_headers, pid, "ent_intake", intake_xml(first, "DU-0101"))
    kept = (await entity(client, admin_headers, pid, first)).json()
    assert kept["currentVersion"]["label"] == "DU-0100" and kept["currentVersion"]["version"] == 1
    errors = await pool.fetch(
        "SELECT details FROM audits WHERE action = 'entity.error' AND acted_on LIKE $1",
        f"submission/{pid}/ent_intake/%")
    assert sorted(e["details"]["problem"] for e in errors) == [
        "entity-exists", "entity-parameter-missing"]
    count = await pool.fetchval(
        "SELECT count(*) FROM submissions s JOIN forms f ON f.id = s.form_id "
        "WHERE f.project_id = $1 AND f.xml_form_id = 'ent_intake'", pid)
    assert count == 3

    await client.patch(f"/v1/projects/{pid}/datasets/cases", json={"approvalRequired": True},
                       headers=admin_headers)
    waiting = str(uuid.uuid4())
    xml = intake_xml(waiting, "KH-0002")
    await submit(client, admin_headers, pid, "ent_intake", xml)
    assert (await entity(client, admin_headers, pid, waiting)).status_code == 404
    instance = ET.fromstring(xml).find("meta/instanceID").text
    approved = await client.patch(
        f"/v1/projects/{pid}/forms/ent_intake/submissions/{instance}",
        json={"reviewState": "approved"}, headers=admin_headers)
    assert approved.status_code == 200
    made = (await entity(client, admin_headers, pid, waiting)).json()
    assert made["currentVersion"]["label"] == "KH-0002"

    # turning approval off with convert=true creates what was waiting
    pending = str(uuid.uuid4())
    await submit(client, admin_headers, pid, "ent_intake", intake_xml(pending, "KH-0003"))
    assert (await entity(client, admin_headers, pid, pending)).status_code == 404
    off = await client.patch(f"/v1/projects/{pid}/datasets/cases?convert=true",
                             json={"approvalRequired": False}, headers=admin_headers)
    assert off.status_code == 200
    assert (await entity(client, admin_headers, pid, pending)).status_code == 200

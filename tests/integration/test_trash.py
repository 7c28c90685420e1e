"""Delete, restore and purge, as ODK Central: a deleted submission leaves the tables, exports,
OData and the live summary counts at once and comes back on restore; a purge removes it, its
versions, comments and the files nothing else uses, from the database and from the attachment
store, keeping only audit lines; nothing of any other record is lost. Entities likewise."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
import uuid
import zipfile
from datetime import timedelta

import pytest

from api.services import trash
from db import summaries as summaries_db
from tests.conftest import ROOT
from tests.summaries_seed import random_answers, screening_project, submission_xml
from tests.xlsforms import XLSX, xlsx_bytes

OR = {"X-OpenRosa-Version": "1.0"}
FORM = "risk_screening"


async def send(client, headers, pid, xml: bytes, files: dict[str, bytes] | None = None):
    parts = {"xml_submission_file": ("s.xml", xml, "text/xml")}
    for name, data in (files or {}).items():
        parts[name] = (name, data, "image/jpeg")
    return await client.post(f"/v1/projects/{pid}/submission", files=parts,
                             headers={**headers, **OR})


async def csv_instance_ids(client, headers, pid, form) -> set[str]:
    got = await client.get(f"/v1/projects/{pid}/forms/{form}/submissions.csv.zip",
                           headers=headers)
    assert got.status_code == 200, got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as z:
        text = z.read(f"{form}.csv").decode()
    return {part for line in text.splitlines()[1:] for part in line.split(",")
            if part.startswith("uuid:")}


async def odata_ids(client, headers, pid, form) -> set[str]:
    got = await client.get(f"/v1/projects/{pid}/forms/{form}.svc/Submissions",
                           params={"$count": "true"}, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["@odata.count"] == len(body["value"])
    return {row["__id"] for row in body["value"]}


async def live_count(pool, form_id: int) -> int:
    async with pool.acquire() as conn:
        counts = await summaries_db.count_persons(
            conn, summaries_db.CountQuery(form_ids=[form_id]))
    return sum(counts.values())


async def audit_actions(pool, acted_on: str) -> list[tuple]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT action, actor_id, details FROM audits WHERE acted_on = $1 "
                                "ORDER BY id", acted_on)
    return [(r["action"], r["actor_id"], r["details"]) for r in rows]


async def purge_later(client, pool, days_after: int = 31) -> trash.PurgeReport:
    store = client.app.state.attachment_store
    async with pool.acquire() as conn:
        now = await conn.fetchval("SELECT clock_timestamp()")
        return await trash.purge_trash(conn, store, days=30, now=now + timedelta(days=days_after))


async def test_submission_delete_restore_purge(client, admin_headers, pool) -> None:
    pid = await screening_project(client, admin_headers)
    rng = random.Random(25)
    ids = [f"uuid:{uuid.uuid4()}" for _ in range(3)]
    for iid in ids:
        answers = random_answers(rng, consent="yes")
        assert (await send(client, admin_headers, pid, submission_xml(answers, instance_id=iid))
                ).status_code == 201
    base = f"/v1/projects/{pid}/forms/{FORM}/submissions"
    gone, kept = ids[0], ids[1:]
    commented = await client.post(f"{base}/{gone}/comments", json={"body": "a remark"},
                                  headers=admin_headers)
    assert commented.status_code == 200
    async with pool.acquire() as conn:
        form_id = await conn.fetchval("SELECT id FROM forms WHERE project_id = $1", pid)
    before = await live_count(pool, form_id)
    assert before == 3

    deleted = await client.delete(f"{base}/{gone}", headers=admin_headers)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    # gone from every read
    assert (await client.get(f"{base}/{gone}", headers=admin_headers)).status_code == 404
    listed = await client.get(base, headers=admin_headers)
    assert {s["instanceId"] for s in listed.json()} == set(kept)
    assert await csv_instance_ids(client, admin_headers, pid, FORM) == set(kept)
    assert await odata_ids(client, admin_headers, pid, FORM) == set(kept)
    assert await live_count(pool, form_id) == 2
    async with pool.acquire() as conn:
        await summaries_db.fold_deltas(conn)
        assert await summaries_db.recount_differences(conn) == []
    # ...but in the trash, and its instanceID cannot be sent again (Central: 409.18)
    trashed = await client.get(base, params={"deleted": "true"}, headers=admin_headers)
    assert [s["instanceId"] for s in trashed.json()] == [gone]
    assert trashed.json()[0]["deletedAt"] is not None
    again = await send(client, admin_headers, pid,
                       submission_xml(random_answers(rng, consent="yes"), instance_id=gone))
    assert again.status_code == 409 and "deleted" in again.text
    assert (await client.delete(f"{base}/{gone}", headers=admin_headers)).status_code == 404

    restored = await client.post(f"{base}/{gone}/restore", headers=admin_headers)
    assert restored.status_code == 200
    assert (await client.get(f"{base}/{gone}", headers=admin_headers)).status_code == 200
    assert await odata_ids(client, admin_headers, pid, FORM) == set(ids)
    assert await live_count(pool, form_id) == 3
    assert (await client.post(f"{base}/{gone}/restore", headers=admin_headers)).status_code == 404

    assert (await client.delete(f"{base}/{gone}", headers=admin_headers)).status_code == 200
    # a purge before its 30 days leaves it; after them it is removed for good
    assert (await purge_later(client, pool, days_after=29)).submissions == 0
    report = await purge_later(client, pool)
    assert report.submissions >= 1
    async with pool.acquire() as conn:
        for table, column in (("submissions_all", "instance_id"),
                              ("submission_versions", "instance_id")):
            assert await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1", gone) == 0, table
        assert await conn.fetchval(
            "SELECT count(*) FROM submission_comments WHERE body = 'a remark'") == 0
        left = await conn.fetch("SELECT s.id FROM submissions s WHERE s.form_id = $1", form_id)
        assert len(left) == 2
        assert await conn.fetchval("SELECT count(*) FROM screenings WHERE form_id = $1",
                                   form_id) == 2
        assert await conn.fetchval(
            "SELECT count(*) FROM submission_versions WHERE form_id = $1", form_id) == 2
        await summaries_db.fold_deltas(conn)
        assert await summaries_db.recount_differences(conn) == []
    assert await live_count(pool, form_id) == 2
    assert await odata_ids(client, admin_headers, pid, FORM) == set(kept)
    actions = await audit_actions(pool, f"submission/{pid}/{FORM}/{gone}")
    names = [a[0] for a in actions]
    for action in ("submission.delete", "submission.restore", "submission.purge"):
        assert action in names
    assert names[-1] == "submission.purge"
    for _, _, details in actions:  # no answers, no comment in any audit line
        assert "a remark" not in str(details) and "interview_date" not in str(details)


def intake_with_photo() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "save_to"],
                   ["text", "code", "Code", "case_code"],
                   ["image", "photo", "Photo", ""]],
        "entities": [["list_name", "label"], ["people", "${code}"]],
        "settings": [["form_id", "version"], ["photo_intake", "1"]],
    })


def photo_xml(entity_id: str, code: str, instance_id: str, photo: str) -> bytes:
    return (
        f'<data id="photo_intake" version="1"><code>{code}</code><photo>{photo}</photo>'
        f"<meta><instanceID>{instance_id}</instanceID>"
        f'<entity dataset="people" id="{entity_id}" create="1"><label>{code}</label></entity>'
        "</meta></data>"
    ).encode()


@pytest.fixture
async def photo_project(client, admin_headers) -> int:
    made = await client.post("/v1/projects", json={"name": f"trash-{uuid.uuid4().hex[:8]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    up = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                           content=intake_with_photo(),
                           headers={**admin_headers, "Content-Type": XLSX})
    assert up.status_code == 200, up.text
    return pid


async def test_purge_keeps_shared_files_and_entities(client, admin_headers, pool,
                                                     photo_project) -> None:
    pid, store = photo_project, client.app.state.attachment_store
    shared, own = b"\xff\xd8shared-photo" + uuid.uuid4().bytes, b"\xff\xd8own" + uuid.uuid4().bytes
    people = [str(uuid.uuid4()) for _ in range(2)]
    ids = [f"uuid:{uuid.uuid4()}" for _ in range(2)]
    # the first person's photo is theirs alone; the second's is also a third record's
    sent = await send(client, admin_headers, pid, photo_xml(people[0], "A-1", ids[0], "a.jpg"),
                      {"a.jpg": own})
    assert sent.status_code == 201, sent.text
    sent = await send(client, admin_headers, pid, photo_xml(people[1], "B-2", ids[1], "b.jpg"),
                      {"b.jpg": shared})
    assert sent.status_code == 201, sent.text
    third = f"uuid:{uuid.uuid4()}"
    sent = await send(client, admin_headers, pid,
                      photo_xml(str(uuid.uuid4()), "C-3", third, "c.jpg"), {"c.jpg": shared})
    assert sent.status_code == 201, sent.text
    own_key, shared_key = hashlib.sha256(own).hexdigest(), hashlib.sha256(shared).hexdigest()
    base = f"/v1/projects/{pid}/forms/photo_intake/submissions"
    for iid in (ids[0], ids[1]):
        assert (await client.delete(f"{base}/{iid}", headers=admin_headers)).status_code == 200
    # the entities they created stay (Central)
    ent = f"/v1/projects/{pid}/datasets/people/entities"
    assert (await client.get(f"{ent}/{people[0]}", headers=admin_headers)).status_code == 200
    assert await store.exists(own_key) and await store.exists(shared_key)

    await purge_later(client, pool)
    assert not await store.exists(own_key)  # nothing else used it
    assert await store.exists(shared_key)  # the third submission still does
    got = await client.get(f"{base}/{third}/attachments/c.jpg", headers=admin_headers)
    assert got.status_code == 200 and got.content == shared
    assert (await client.get(f"{ent}/{people[0]}", headers=admin_headers)).status_code == 200
    versions = await client.get(f"{ent}/{people[0]}/versions", headers=admin_headers)
    assert versions.status_code == 200

    # an entity: delete, list the deleted, restore, delete, purge
    assert (await client.delete(f"{ent}/{people[0]}", headers=admin_headers)).status_code == 200
    trashed = await client.get(ent, params={"deleted": "true"}, headers=admin_headers)
    assert [e["uuid"] for e in trashed.json()] == [people[0]]
    assert (await client.post(f"{ent}/{people[0]}/restore", headers=admin_headers)
            ).status_code == 200
    assert (await client.delete(f"{ent}/{people[0]}", headers=admin_headers)).status_code == 200
    report = await purge_later(client, pool)
    assert report.entities >= 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM entities WHERE uuid = $1::uuid",
                                   people[0]) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM entity_defs d JOIN entities e ON e.id = d.entity_id "
            "WHERE e.uuid = $1::uuid", people[1]) == 1
        assert await conn.fetchval(
            "SELECT count(*) FROM entity_defs WHERE label = 'A-1'") == 0
    assert (await client.get(f"{ent}/{people[1]}", headers=admin_headers)).status_code == 200
    actions = [a[0] for a in await audit_actions(pool, f"entity/{pid}/people/{people[0]}")]
    assert actions[-1] == "entity.purge" and "entity.restore" in actions


async def test_purge_command(settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "FIELDSURVEY_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-m", "api.cli", "purge"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "deleted more than 30 days ago" in done.stdout
    assert "retention periods:" in done.stdout

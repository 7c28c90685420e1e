"""Erasing a person: a case with its intake and three follow-up visits with photos goes at
once, for good, from every table and from the attachment store, leaving one audit line that
says how many records (no content); other cases, their versions and a file they share stay.
One screening likewise, and the live counts lose it."""

from __future__ import annotations

import hashlib
import random
import uuid

import asyncpg
import pytest

from db import summaries as summaries_db
from tests.integration.test_trash import live_count, send
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
)
from tests.xlsforms import XLSX, xlsx_bytes


def intake_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "save_to"],
                   ["text", "code", "Code", "case_code"],
                   ["text", "stage", "Stage", "stage"],
                   ["image", "photo", "Photo", ""]],
        "entities": [["list_name", "label"], ["people", "${code}"]],
        "settings": [["form_id", "version"], ["erase_intake", "1"]],
    })


def followup_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "save_to"],
                   ["select_one_from_file people.csv", "case", "Case", ""],
                   ["text", "stage", "Stage", "stage"],
                   ["image", "photo", "Photo", ""]],
        "entities": [["list_name", "entity_id"], ["people", "${case}"]],
        "settings": [["form_id", "version"], ["erase_followup", "1"]],
    })


def intake_xml(eid: str, code: str, iid: str, photo: str) -> bytes:
    return (f'<data id="erase_intake" version="1"><code>{code}</code><stage>intake</stage>'
            f"<photo>{photo}</photo><meta><instanceID>{iid}</instanceID>"
            f'<entity dataset="people" id="{eid}" create="1"><label>{code}</label></entity>'
            "</meta></data>").encode()


def followup_xml(eid: str, base: int, iid: str, stage: str, photo: str) -> bytes:
    return (f'<data id="erase_followup" version="1"><case>{eid}</case><stage>{stage}</stage>'
            f"<photo>{photo}</photo><meta><instanceID>{iid}</instanceID>"
            f'<entity dataset="people" id="{eid}" update="1" baseVersion="{base}" '
            'trunkVersion="" branchId=""/></meta></data>').encode()


def jpeg(tag: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + tag.encode() + uuid.uuid4().bytes


@pytest.fixture
async def project(client, admin_headers) -> int:
    made = await client.post("/v1/projects", json={"name": f"erase-{uuid.uuid4().hex[:8]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    for body in (intake_form(), followup_form()):
        up = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                               content=body, headers={**admin_headers, "Content-Type": XLSX})
        assert up.status_code == 200, up.text
    return pid


async def send_case(client, headers, pid, code: str, visits: list[bytes]) -> dict:
    eid, ids = str(uuid.uuid4()), [f"uuid:{uuid.uuid4()}" for _ in range(len(visits))]
    sent = await send(client, headers, pid, intake_xml(eid, code, ids[0], "p0.jpg"),
                      {"p0.jpg": visits[0]})
    assert sent.status_code == 201, sent.text
    for n, photo in enumerate(visits[1:], start=1):
        sent = await send(client, headers, pid,
                          followup_xml(eid, n, ids[n], f"stage{n}-{code}", f"p{n}.jpg"),
                          {f"p{n}.jpg": photo})
        assert sent.status_code == 201, sent.text
    return {"uuid": eid, "code": code, "ids": ids}


async def tables_containing(pool, needles: list[str]) -> dict[str, list[str]]:
    """Every table of the database (audits aside) whose rows mention any of `needles`."""
    found: dict[str, list[str]] = {}
    async with pool.acquire() as conn:
        tables = [r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname <> 'audits'")]
        for table in tables:
            for needle in needles:
                hit = await conn.fetchval(
                    f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, $1) > 0', needle)
                if hit:
                    found.setdefault(table, []).append(needle)
    return found


async def test_erasing_a_case(client, admin_headers, pool, project) -> None:
    pid, store = project, client.app.state.attachment_store
    shared = jpeg("shared")
    erased_photos = [jpeg(f"a{n}") for n in range(3)] + [shared]
    code = f"ER-{uuid.uuid4().hex[:6].upper()}"
    case = await send_case(client, admin_headers, pid, code, erased_photos)
    other = await send_case(client, admin_headers, pid, f"KE-{uuid.uuid4().hex[:6].upper()}",
                            [jpeg("b0"), shared])
    # a review note and a comment about the person
    sub = f"/v1/projects/{pid}/forms/erase_followup/submissions/{case['ids'][2]}"
    note = f"note-{uuid.uuid4().hex}"
    reviewed = await client.patch(sub, json={"reviewState": "hasIssues"},
                                  headers={**admin_headers, "X-Action-Notes": note})
    assert reviewed.status_code == 200, reviewed.text
    comment = f"comment-{uuid.uuid4().hex}"
    assert (await client.post(f"{sub}/comments", json={"body": comment}, headers=admin_headers)
            ).status_code == 200
    async with pool.acquire() as conn:
        other_defs = [dict(r) for r in await conn.fetch(
            "SELECT d.* FROM entity_defs d JOIN entities e ON e.id = d.entity_id "
            "WHERE e.uuid = $1::uuid ORDER BY d.id", other["uuid"])]
        other_versions = await conn.fetchval(
            "SELECT count(*) FROM submission_versions WHERE instance_id = ANY($1::text[])",
            other["ids"])
    erase = f"/v1/projects/{pid}/datasets/people/entities/{case['uuid']}/erase"

    # not confirmed: nothing happens
    refused = await client.post(erase, json={"confirm": code.lower()}, headers=admin_headers)
    assert refused.status_code == 400, refused.text
    assert (await client.get(sub, headers=admin_headers)).status_code == 200

    needles = [case["uuid"], code, *case["ids"], note, comment, f"stage2-{code}"]
    before = await tables_containing(pool, needles)
    assert {"submissions_all", "submission_versions", "submission_comments", "entities",
            "entity_defs"} <= set(before)
    erased = await client.post(erase, json={"confirm": code}, headers=admin_headers)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"success": True, "entities": 1, "submissions": 4}

    # nothing of it in any table (audits aside), nor in the store
    assert await tables_containing(pool, needles) == {}
    for photo in erased_photos[:3]:
        assert not await store.exists(hashlib.sha256(photo).hexdigest())
    assert await store.exists(hashlib.sha256(shared).hexdigest())  # the other case uses it
    # the audit log: that it happened, by whom, how many; no content anywhere in it
    async with pool.acquire() as conn:
        lines = await conn.fetch(
            "SELECT actor_id, details FROM audits WHERE action = 'entity.erase' "
            "AND acted_on = $1", f"entity/{pid}/people/{case['uuid']}")
        assert len(lines) == 1 and lines[0]["actor_id"] is not None
        assert lines[0]["details"] == {"entities": 1, "submissions": 4}
        for text in (code, note, comment, f"stage2-{code}"):
            assert await conn.fetchval(
                "SELECT count(*) FROM audits a WHERE strpos(a::text, $1) > 0", text) == 0, text
        # the other case is untouched, every version of it
        assert [dict(r) for r in await conn.fetch(
            "SELECT d.* FROM entity_defs d JOIN entities e ON e.id = d.entity_id "
            "WHERE e.uuid = $1::uuid ORDER BY d.id", other["uuid"])] == other_defs
        assert await conn.fetchval(
            "SELECT count(*) FROM submission_versions WHERE instance_id = ANY($1::text[])",
            other["ids"]) == other_versions == 2
    got = await client.get(f"/v1/projects/{pid}/forms/erase_followup/submissions/"
                           f"{other['ids'][1]}/attachments/p1.jpg", headers=admin_headers)
    assert got.status_code == 200 and got.content == shared
    assert (await client.get(f"/v1/projects/{pid}/datasets/people/entities/{case['uuid']}",
                             headers=admin_headers)).status_code == 404
    assert (await client.post(erase, json={"confirm": code}, headers=admin_headers)
            ).status_code == 404


async def publication_cells(pool, pid: int) -> list[tuple]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT c.* FROM publication_cells c JOIN publications p ON p.id = c.publication_id "
            "WHERE p.project_id = $1 ORDER BY 1, 2, 3, 4, 5", pid)
    return [tuple(r) for r in rows]


async def test_erasing_one_screening(client, admin_headers, pool, settings) -> None:
    pid = await screening_project(client, admin_headers)
    rng = random.Random(7)
    ids = [f"uuid:{uuid.uuid4()}" for _ in range(2)]
    for iid in ids:
        answers = {**random_answers(rng, consent="yes"), "interview_date": "2026-03-10"}
        sent = await send(client, admin_headers, pid, submission_xml(answers, instance_id=iid))
        assert sent.status_code == 201
    async with pool.acquire() as conn:
        form_id = await conn.fetchval("SELECT id FROM forms WHERE project_id = $1", pid)
    assert await live_count(pool, form_id) == 2
    await publish_now(pool, settings, pid)
    published = await publication_cells(pool, pid)
    assert published  # the months before this one are published
    url = f"/v1/projects/{pid}/forms/risk_screening/submissions/{ids[0]}/erase"
    short = ids[0].removeprefix("uuid:")[:8]
    assert (await client.post(url, json={"confirm": "nope"}, headers=admin_headers)
            ).status_code == 400
    erased = await client.post(url, json={"confirm": short}, headers=admin_headers)
    assert erased.status_code == 200 and erased.json()["submissions"] == 1
    assert await tables_containing(pool, [ids[0]]) == {}
    assert await live_count(pool, form_id) == 1
    assert await publication_cells(pool, pid) == published  # published counts stay
    async with pool.acquire() as conn:
        await summaries_db.fold_deltas(conn)
        assert await summaries_db.recount_differences(conn) == []
    listed = await client.get(f"/v1/projects/{pid}/forms/risk_screening/submissions",
                              headers=admin_headers)
    assert [s["instanceId"] for s in listed.json()] == [ids[1]]


async def test_the_audit_log_takes_only_the_removal_of_notes(pool) -> None:
    """Migration 0051: outside a scrub nothing may change; inside one, only `notes` may go."""
    async with pool.acquire() as conn:
        audit_id = await conn.fetchval(
            "INSERT INTO audits (actor_id, action, acted_on, details) VALUES "
            "(NULL, 'submission.update', 'submission/0/x/uuid:test', "
            "'{\"reviewState\": \"approved\", \"notes\": \"about her\"}') RETURNING id")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audits SET details = details - 'notes' WHERE id = $1",
                               audit_id)
        for change in ("details = '{}'::jsonb", "action = 'x'", "logged_at = now()"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("SET LOCAL fieldsurvey.scrub_audits = 'on'")
                    await conn.execute(f"UPDATE audits SET {change} WHERE id = $1", audit_id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute("SET LOCAL fieldsurvey.scrub_audits = 'on'")
                await conn.execute("DELETE FROM audits WHERE id = $1", audit_id)
        async with conn.transaction():
            await conn.execute("SET LOCAL fieldsurvey.scrub_audits = 'on'")
            await conn.execute("UPDATE audits SET details = details - 'notes' WHERE id = $1",
                               audit_id)
        assert await conn.fetchval("SELECT details FROM audits WHERE id = $1", audit_id) == {
            "reviewState": "approved"}

"""The submissions table's service (api/services/submissions.py): newest first, keyset pages
that join up to the whole list in both directions (also when many rows share a timestamp),
every filter returns exactly the rows that match it, review notes and comments reach the feed,
and the REST API goes through the same functions (X-Action-Notes)."""

from __future__ import annotations

import random
from datetime import timedelta
from urllib.parse import quote

import pytest

from api.auth import Actor
from api.problems import Problem
from api.services import submissions as svc
from tests.summaries_seed import random_answers, screening_project, submission_xml, submit

COUNT = 37


@pytest.fixture(scope="module")
async def table(client, admin_headers, make_user, pool):
    pid = await screening_project(client, admin_headers)
    phones = []
    for name in ("Phone A", "Phone B"):
        created = await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": name},
                                    headers=admin_headers)
        assert created.status_code == 200
        phone = created.json()
        assigned = await client.post(
            f"/v1/projects/{pid}/forms/risk_screening/assignments/app-user/{phone['id']}",
            headers=admin_headers)
        assert assigned.status_code == 200
        phones.append(phone)
    rng = random.Random(11)
    for i in range(COUNT):
        answers = random_answers(rng)
        if i % 5 == 0 and answers["consent"] == "yes":
            answers.update(worked_away="yes", c1_documents_taken="yes", situation_ongoing="yes")
        phone = phones[i % 2]
        response = await client.post(
            f"/v1/key/{phone['token']}/projects/{pid}/submission",
            files={"xml_submission_file": ("s.xml", submission_xml(answers), "text/xml")},
            headers={"X-OpenRosa-Version": "1.0"},
        )
        assert response.status_code == 201, response.text
    await submit(client, admin_headers, pid, submission_xml(random_answers(rng)))  # by a web user
    form_id = await pool.fetchval(
        "SELECT id FROM forms WHERE project_id = $1 AND xml_form_id = 'risk_screening'", pid)
    # twelve submissions at one instant: the keyset must order them by id
    await pool.execute(
        "UPDATE submissions SET created_at = (SELECT max(created_at) FROM submissions "
        "WHERE form_id = $1) WHERE id IN (SELECT id FROM submissions WHERE form_id = $1 "
        "ORDER BY id OFFSET 10 LIMIT 12)", form_id)
    ids = [r["instance_id"] for r in await pool.fetch(
        "SELECT instance_id FROM submissions WHERE form_id = $1 ORDER BY id", form_id)]
    states = {}
    for n, instance_id in enumerate(ids):
        state = ("approved", "hasIssues", "rejected", None)[n % 4]
        if state:
            patched = await client.patch(
                f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance_id}",
                json={"reviewState": state}, headers=admin_headers)
            assert patched.status_code == 200
        states[instance_id] = state or "received"
    manager = await make_user("manager", pid)
    researcher = await make_user("researcher", pid)
    ministry = await make_user("ministry", pid)
    actor = Actor(id=manager["id"], type="user", display_name="m",
                  roles={pid: frozenset({"manager"})})
    return {"pid": pid, "form_id": form_id, "phones": phones, "states": states, "actor": actor,
            "manager": manager, "researcher": researcher, "ministry": ministry}


async def _expected(pool, form_id: int, where: str = "true", *args) -> list[str]:
    rows = await pool.fetch(
        "SELECT s.instance_id FROM submissions s LEFT JOIN screenings sc ON sc.submission_id = s.id "
        f"WHERE s.form_id = $1 AND ({where}) ORDER BY s.created_at DESC, s.id DESC", form_id, *args)
    return [r["instance_id"] for r in rows]


async def _walk(pool, table, params: dict, limit: int = 25) -> tuple[list[str], list[str]]:
    """Every page forwards (older) then every page back (newer): the instance ids seen."""
    pid = table["pid"]
    forward, backward = [], []
    query = svc.parse_table_query({**params, "limit": str(limit)})
    pages = []
    async with pool.acquire() as conn:
        while True:
            page = await svc.submissions_table(conn, table["actor"], pid, "risk_screening", query)
            pages.append(page)
            forward.extend(r["instance_id"] for r in page.rows)
            if page.older is None:
                break
            query = svc.parse_table_query({**params, "limit": str(limit),
                                           "after": page.older.encode()})
        page = pages[-1]
        backward = [r["instance_id"] for r in page.rows][::-1]
        while page.newer is not None:
            query = svc.parse_table_query({**params, "limit": str(limit),
                                           "before": page.newer.encode()})
            page = await svc.submissions_table(conn, table["actor"], pid, "risk_screening", query)
            backward.extend(r["instance_id"] for r in page.rows[::-1])
    return forward, backward[::-1]


async def test_keyset_pages_join_up_both_ways(pool, table) -> None:
    everything = await _expected(pool, table["form_id"])
    assert len(everything) == COUNT + 1
    for limit in (25, 50):
        forward, backward = await _walk(pool, table, {}, limit)
        assert forward == everything
        assert backward == everything


async def test_each_filter_returns_exactly_what_matches(pool, table) -> None:
    form_id = table["form_id"]
    phone = table["phones"][1]["id"]
    cases = [
        ({"review": "received"}, "s.review_state IS NULL", ()),
        ({"review": ["approved", "rejected"]}, "s.review_state IN ('approved', 'rejected')", ()),
        ({"submitter": str(phone)}, "s.submitter_id = $2", (phone,)),
        ({"risk": "high"}, "sc.risk_level = 'high'", ()),
        ({"risk": ["low", "medium"]}, "sc.risk_level IN ('low', 'medium')", ()),
        ({"urgent": "yes"}, "sc.urgent", ()),
        ({"urgent": "no"}, "NOT sc.urgent", ()),
        ({"urgent": "yes", "review": "hasIssues", "submitter": str(phone)},
         "sc.urgent AND s.review_state = 'hasIssues' AND s.submitter_id = $2", (phone,)),
    ]
    for params, where, args in cases:
        expected = await _expected(pool, form_id, where, *args)
        forward, backward = await _walk(pool, table, params)
        assert forward == expected, params
        assert backward == expected, params
        async with pool.acquire() as conn:
            page = await svc.submissions_table(
                conn, table["actor"], table["pid"], "risk_screening", svc.parse_table_query(params))
        assert page.matched == len(expected) and not page.capped
    assert await _expected(pool, form_id, "sc.urgent")  # the data has urgent screenings


async def test_date_filter_uses_whole_days_in_dushanbe(pool, table) -> None:
    form_id = table["form_id"]
    newest = await pool.fetchval(
        "SELECT (max(created_at) AT TIME ZONE 'Asia/Dushanbe')::date FROM submissions "
        "WHERE form_id = $1", form_id)
    expected = await _expected(
        pool, form_id, "(s.created_at AT TIME ZONE 'Asia/Dushanbe')::date = $2", newest)
    forward, _ = await _walk(pool, table, {"from": newest.isoformat(), "to": newest.isoformat()})
    assert forward == expected and expected
    before = (newest - timedelta(days=1)).isoformat()
    assert (await _walk(pool, table, {"to": before}))[0] == await _expected(
        pool, form_id, "(s.created_at AT TIME ZONE 'Asia/Dushanbe')::date <= $2",
        newest - timedelta(days=1))


@pytest.mark.parametrize("params", [
    {"review": "pending"}, {"risk": "extreme"}, {"urgent": "maybe"}, {"from": "2026-13-01"},
    {"from": "2026-05-02", "to": "2026-05-01"}, {"submitter": "me"}, {"limit": "7"},
    {"after": "not a cursor"},
])
def test_bad_table_parameters_are_refused(params) -> None:
    with pytest.raises(Problem) as caught:
        svc.parse_table_query(params)
    assert caught.value.slug == "request-invalid"


async def test_permissions_come_from_auth(pool, table) -> None:
    pid = table["pid"]
    researcher = Actor(id=table["researcher"]["id"], type="user", display_name="r",
                       roles={pid: frozenset({"researcher"})})
    ministry = Actor(id=table["ministry"]["id"], type="user", display_name="x",
                     roles={pid: frozenset({"ministry"})})
    instance_id = next(iter(table["states"]))
    async with pool.acquire() as conn:
        page = await svc.submissions_table(conn, researcher, pid, "risk_screening",
                                           svc.TableQuery())
        assert page.rows
        with pytest.raises(Problem) as caught:
            await svc.review(conn, researcher, pid, "risk_screening", instance_id, "approved")
        assert caught.value.status == 403
        with pytest.raises(Problem) as caught:
            await svc.submissions_table(conn, ministry, pid, "risk_screening", svc.TableQuery())
        assert caught.value.status == 403
        with pytest.raises(Problem) as caught:
            await svc.submission_detail(conn, ministry, pid, "risk_screening", instance_id)
        assert caught.value.status == 403


async def test_review_notes_over_rest_reach_the_feed(client, pool, table) -> None:
    pid = table["pid"]
    instance_id = next(i for i, s in table["states"].items() if s == "received")
    note = "Спросить оператора — ещё раз"
    response = await client.patch(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance_id}",
        json={"reviewState": "hasIssues"},
        headers={**table["manager"]["headers"], "X-Action-Notes": quote(note)})
    assert response.status_code == 200 and response.json()["reviewState"] == "hasIssues"
    comment = await client.post(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance_id}/comments",
        json={"body": "Called back."}, headers=table["manager"]["headers"])
    assert comment.status_code == 200
    async with pool.acquire() as conn:
        detail = await svc.submission_detail(conn, table["actor"], pid, "risk_screening",
                                             instance_id)
        reviewed = await svc.review(conn, table["actor"], pid, "risk_screening", instance_id,
                                    "approved", "  ")
    assert reviewed["review_state"] == "approved"
    kinds = [(item["kind"], item.get("body") or item["details"].get("notes")) for item in detail.feed]
    assert ("comment", "Called back.") in kinds
    assert ("submission.update", note) in kinds
    assert detail.screening is not None and detail.versions[0]["current"]
    table["states"][instance_id] = "approved"
    blank = await client.post(
        f"/v1/projects/{pid}/forms/risk_screening/submissions/{instance_id}/comments",
        json={"body": "   "}, headers=table["manager"]["headers"])
    assert blank.status_code == 400

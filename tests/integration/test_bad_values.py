"""One bad value never breaks a page for everyone: a stored value that does not convert is
shown as text, a filter that cannot be used gets the page's notice, an entity error never
loses its submission (hardening, third round)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from api.i18n import I18n
from tests.cases_seed import followup_xml, seed_case
from tests.pages_client import signed_in

OPENROSA = {"X-OpenRosa-Version": "1.0"}
FILTER_NOTICE = "A filter has a value that cannot be used"


@pytest.fixture(scope="module")
async def centre(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"bad-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    seeded = await seed_case(client, pool, admin_headers, pid)
    manager = await make_user("manager", pid)
    admin = await make_user("admin", None)
    return {"pid": pid, **seeded, "headers": admin_headers,
            "manager": await signed_in(client, manager["email"], manager["password"]),
            "admin": await signed_in(client, admin["email"], admin["password"])}


async def send(client, centre, body: bytes):
    sent = await client.post(f"/v1/projects/{centre['pid']}/submission",
                             headers={**centre["headers"], **OPENROSA},
                             files={"xml_submission_file": ("s.xml", body, "text/xml")})
    assert sent.status_code == 201, sent.text
    return sent


def visit(case: str, base: int, visits: str) -> bytes:
    body = followup_xml(case, base, f"uuid:{uuid.uuid4()}", day="2026-06-01",
                        stage="vocational_training")
    return body.replace(f"<visits>{base}</visits>".encode(), f"<visits>{visits}</visits>".encode())


@pytest.mark.parametrize("visits", ["²", "7" * 5000])
async def test_a_visit_count_that_does_not_convert_is_shown_as_text(client, pool, centre, visits):
    base = await pool.fetchval(
        "SELECT d.version FROM entity_defs d JOIN entities e ON e.id = d.entity_id "
        "WHERE e.uuid = $1 AND d.current", uuid.UUID(centre["case"]))
    await send(client, centre, visit(centre["case"], base, visits))
    stored = await pool.fetchval(
        "SELECT d.data->>'visits' FROM entity_defs d JOIN entities e ON e.id = d.entity_id "
        "WHERE e.uuid = $1 AND d.current", uuid.UUID(centre["case"]))
    assert stored == visits  # the value went in: the pages must live with it
    pid, manager = centre["pid"], centre["manager"]
    listed = await manager.get(client, f"/projects/{pid}/cases")
    assert listed.status_code == 200, listed.text[:300]
    assert visits[:50] in listed.text
    page = await manager.get(client, f"/projects/{pid}/cases/{centre['case']}")
    assert page.status_code == 200, page.text[:300]
    assert visits[:50] in page.text
    assert I18n.for_locale("en").date(date(2026, 6, 1)) in page.text


async def test_submission_table_filters_that_cannot_be_used_get_the_notice(client, centre):
    base = f"/projects/{centre['pid']}/forms/support_center_followup/submissions"
    for query in ("submitter=%C2%B2", "to=9999-12-31", "from=0001-01-01",
                  "submitter=" + "9" * 30, "submitter=" + "9" * 5000):
        shown = await centre["manager"].get(client, f"{base}?{query}")
        assert shown.status_code == 200, (query, shown.text[:300])
        assert FILTER_NOTICE in shown.text, query


async def test_audit_log_filters_that_cannot_be_used_get_the_notice(client, centre):
    for query in ("to=9999-12-31", "from=0001-01-01", "from=nope",
                  "offset=" + "9" * 30, "offset=%C2%B2"):
        shown = await centre["admin"].get(client, f"/admin/audits?{query}")
        assert shown.status_code == 200, (query, shown.text[:300])
        assert FILTER_NOTICE in shown.text, query
    plain = await centre["admin"].get(client, "/admin/audits?to=2026-12-01")
    assert plain.status_code == 200 and FILTER_NOTICE not in plain.text


@pytest.mark.parametrize("version", ["2147483648", "9" * 5000, "٣"])
async def test_an_entity_version_beyond_the_database_keeps_the_submission(
        client, pool, centre, version):
    instance = f"uuid:{uuid.uuid4()}"
    body = followup_xml(centre["case"], 1, instance, day="2026-06-02", stage="case_closed")
    body = body.replace(b'baseVersion="1"', f'baseVersion="{version}"'.encode())
    await send(client, centre, body)
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE instance_id = $1",
                               instance) == 1
    logged = await pool.fetchval(
        "SELECT details->>'problem' FROM audits WHERE action = 'entity.error' "
        "AND details->>'submissionId' = (SELECT id::text FROM submissions "
        "WHERE instance_id = $1)", instance)
    assert logged is not None

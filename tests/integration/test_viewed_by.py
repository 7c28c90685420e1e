"""Who viewed what (issue 24): a submission's and a case's page list, for managers, who read
the record, when and how (its page, the API, a file, an export of its form); the managers'
page of unusual reading lists a user who read more than FIELDSURVEY_UNUSUAL_READS_PER_HOUR
records in an hour and every export that held identifying fields unmasked."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from db import audits
from tests.cases_seed import seed_case
from tests.pages_client import signed_in
from tests.xlsforms import XLSX, xlsx_bytes

FORM = "viewed_form"


def form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "sensitive"],
                   ["text", "full_name", "Name", "yes"], ["integer", "age", "Age", ""]],
        "settings": [["form_id", "version"], [FORM, "1"]],
    })


@pytest.fixture(scope="module")
async def world(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"viewed-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    uploaded = await client.post(f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
                                 content=form(), headers={**admin_headers, "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    iid = f"uuid:{uuid.uuid4()}"
    xml = (f'<data id="{FORM}" version="1"><full_name>Zarina K.</full_name><age>19</age>'
           f"<meta><instanceID>{iid}</instanceID></meta></data>").encode()
    sent = await client.post(f"/v1/projects/{pid}/forms/{FORM}/submissions", content=xml,
                             headers={**admin_headers, "Content-Type": "application/xml"})
    assert sent.status_code == 200, sent.text
    case = await seed_case(client, pool, admin_headers, pid)
    people = {role: await make_user(role, pid) for role in ("researcher", "manager")}
    for user in people.values():
        user["browser"] = await signed_in(client, user["email"], user["password"])
    return {"pid": pid, "iid": iid, "case": case, **people}


def viewed_rows(html: str) -> list[str]:
    section = html.split('id="viewed-by"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row)
            for row in re.findall(r"<li>(.*?)</li>", section, flags=re.S)]


async def test_a_submission_page_lists_who_read_it_for_managers_only(client, world):
    pid, iid = world["pid"], world["iid"]
    researcher, manager = world["researcher"], world["manager"]
    page_url = f"/projects/{pid}/forms/{FORM}/submissions/{iid}"
    mine = await researcher["browser"].get(client, page_url)
    assert mine.status_code == 200 and 'id="viewed-by"' not in mine.text
    xml = await client.get(f"/v1/projects/{pid}/forms/{FORM}/submissions/{iid}.xml",
                           headers=researcher["headers"])
    assert xml.status_code == 200
    export = await client.get(f"/v1/projects/{pid}/forms/{FORM}/submissions.csv.zip",
                              headers=researcher["headers"])
    assert export.status_code == 200
    theirs = await manager["browser"].get(client, page_url)
    assert theirs.status_code == 200
    rows = viewed_rows(theirs.text)
    name = researcher["email"]
    assert any(name in r and "its page" in r for r in rows), rows
    assert any(name in r and "the API" in r for r in rows), rows
    assert any(name in r and "an export of the form" in r for r in rows), rows
    # the manager's own read of the page is the newest
    assert manager["email"] in rows[0] and "its page" in rows[0]
    # an export made before the submission arrived, or filtered away from it, is not listed
    later = await client.get(
        f"/v1/projects/{pid}/forms/{FORM}/submissions.csv.zip?until=2000-01-01",
        headers=manager["headers"])
    assert later.status_code == 200
    again = viewed_rows((await manager["browser"].get(client, page_url)).text)
    assert not any(manager["email"] in r and "export" in r for r in again), again


async def test_a_case_page_lists_who_read_the_case_and_its_submissions(client, world):
    pid, case = world["pid"], world["case"]
    researcher, manager = world["researcher"], world["manager"]
    url = f"/projects/{pid}/cases/{case['case']}"
    mine = await researcher["browser"].get(client, url)
    assert mine.status_code == 200 and 'id="viewed-by"' not in mine.text
    visit = f"/projects/{pid}/forms/support_center_followup/submissions/{case['ids'][1]}"
    assert (await researcher["browser"].get(client, visit)).status_code == 200
    for lang, case_word, page_word in (("ru", "дело", "её страница"),
                                       ("tg", "парванда", "саҳифаи он")):
        manager["browser"].lang = lang
        theirs = await manager["browser"].get(client, url)
        assert theirs.status_code == 200
        rows = viewed_rows(theirs.text)
        assert sum(researcher["email"] in r and case_word in r for r in rows) == 1, rows
        assert any(researcher["email"] in r and page_word in r for r in rows), rows
    manager["browser"].lang = None


async def test_unusual_reading_lists_heavy_readers_and_unmasked_exports(
        client, pool, world, settings):
    pid = world["pid"]
    researcher, manager = world["researcher"], world["manager"]
    url = f"/projects/{pid}/reading"
    refused = await researcher["browser"].get(client, url)
    assert refused.status_code == 403
    limit = settings.unusual_reads_per_hour
    async with pool.acquire() as conn:  # one read of each of limit + 1 records, as REST logs it
        left = await conn.fetchval("SELECT extract(epoch FROM date_trunc('hour', now()) "
                                   "+ interval '1 hour' - now())")
        if left < 30:  # the reads below fall in one clock hour
            await asyncio.sleep(float(left) + 1)
        for n in range(limit + 1):
            await audits.log_audit(conn, researcher["id"], "submission.read",
                                   f"submission/{pid}/{FORM}/uuid:heavy-{n}", {"format": "xml"})
        for _ in range(limit + 1):  # the same record again and again is not many records
            await audits.log_audit(conn, manager["id"], "submission.read",
                                   f"submission/{pid}/{FORM}/{world['iid']}")
    shown = await client.get(f"/v1/projects/{pid}/forms/{FORM}/submissions.xlsx",
                             headers=manager["headers"])
    masked = await client.get(f"/v1/projects/{pid}/forms/{FORM}/submissions.xlsx",
                              headers=researcher["headers"])
    assert shown.status_code == masked.status_code == 200
    page = await manager["browser"].get(client, url)
    assert page.status_code == 200, page.text
    heavy = page.text.split('id="heavy-readers"', 1)[1].split("</section>", 1)[0]
    counts = {who: int(n) for who, n in re.findall(
        r"<tr><td>([^<]*)</td><td>[^<]*</td><td>(\d+)</td></tr>", heavy)}
    assert counts.get(researcher["email"], 0) > limit, heavy
    assert manager["email"] not in counts
    exports = page.text.split('id="sensitive-exports"', 1)[1].split("</section>", 1)[0]
    assert manager["email"] in exports and FORM in exports and "xlsx" in exports
    assert researcher["email"] not in exports
    manager["browser"].lang = "tg"
    translated = await manager["browser"].get(client, url)
    assert "Хониши ғайриодӣ" in translated.text
    manager["browser"].lang = None


async def test_the_views_index_exists(pool):
    assert await pool.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'audits_acted_on_time'") == 1

"""The pages of issue 25: delete a submission and a case after a confirmation, find them in
the trash and restore them; erase a case after typing its code (a wrong code is refused and
nothing goes); a form's retention period and what the next run erases; in Russian and Tajik
without English; researchers get the 403 page."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import pytest

from tests.cases_seed import seed_case
from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import signed_in


@pytest.fixture(scope="module")
async def centre(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"trash-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    seeded = await seed_case(client, pool, admin_headers, pid)
    users = {role: await make_user(role, pid) for role in ("manager", "researcher")}
    browsers = {role: await signed_in(client, u["email"], u["password"])
                for role, u in users.items()}
    return {"pid": pid, **seeded, "browsers": browsers}


def one(pid: int, iid: str) -> str:
    return f"/projects/{pid}/forms/support_center_followup/submissions/{quote(iid, safe='')}"


async def test_delete_and_restore_a_submission_and_a_case(client, centre) -> None:
    pid, manager = centre["pid"], centre["browsers"]["manager"]
    iid = centre["ids"][2]
    page = await manager.get(client, one(pid, iid))
    assert page.status_code == 200 and 'id="delete-link"' in page.text
    confirm = await manager.get(client, one(pid, iid) + "/delete")
    assert confirm.status_code == 200 and iid in confirm.text
    done = await manager.post(client, one(pid, iid) + "/delete")
    assert done.status_code == 303, done.text
    trash_url = f"/projects/{pid}/forms/support_center_followup/trash"
    assert done.headers["location"] == trash_url
    assert (await manager.get(client, one(pid, iid))).status_code == 404
    listed = await manager.get(client, trash_url)
    assert listed.status_code == 200 and iid in listed.text
    restore = re.search(r'<form method="post" action="([^"]+/restore)"', listed.text).group(1)
    back = await manager.post(client, restore)
    assert back.status_code == 303 and back.headers["location"] == one(pid, iid)
    assert (await manager.get(client, one(pid, iid))).status_code == 200

    case = f"/projects/{pid}/cases/{centre['case']}"
    assert 'id="delete-link"' in (await manager.get(client, case)).text
    assert (await manager.get(client, case + "/delete")).status_code == 200
    done = await manager.post(client, case + "/delete")
    assert done.status_code == 303 and done.headers["location"] == f"/projects/{pid}/cases/trash"
    assert (await manager.get(client, case)).status_code == 404
    listed = await manager.get(client, f"/projects/{pid}/cases/trash")
    assert listed.status_code == 200 and centre["code"] in listed.text
    restore = re.search(r'<form method="post" action="([^"]+/restore)"', listed.text).group(1)
    assert (await manager.post(client, restore)).status_code == 303
    assert (await manager.get(client, case)).status_code == 200


async def test_researchers_may_not_delete(client, centre) -> None:
    pid, researcher = centre["pid"], centre["browsers"]["researcher"]
    for path in (one(pid, centre["ids"][1]) + "/delete", one(pid, centre["ids"][1]) + "/erase",
                 f"/projects/{pid}/cases/{centre['case']}/erase",
                 f"/projects/{pid}/forms/support_center_followup/retention"):
        assert (await researcher.get(client, path)).status_code == 403, path
    refused = await researcher.post(client, one(pid, centre["ids"][1]) + "/delete")
    assert refused.status_code == 403
    assert (await researcher.get(client, one(pid, centre["ids"][1]))).status_code == 200


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_pages_in_russian_and_tajik(client, centre, pool, locale) -> None:
    pid, manager = centre["pid"], centre["browsers"]["manager"]
    manager.lang = locale
    try:
        pages = {
            "delete": await manager.get(client, one(pid, centre["ids"][1]) + "/delete"),
            "erase": await manager.get(client, one(pid, centre["ids"][1]) + "/erase"),
            "erase case": await manager.get(client, f"/projects/{pid}/cases/{centre['case']}/erase"),
            "trash": await manager.get(client, f"/projects/{pid}/forms/support_center_followup/trash"),
            "cases trash": await manager.get(client, f"/projects/{pid}/cases/trash"),
            "retention": await manager.get(
                client, f"/projects/{pid}/forms/support_center_followup/retention"),
        }
    finally:
        manager.lang = None
    user_text = [centre["code"], *centre["ids"], centre["case"],
                 *[r["display_name"] for r in await pool.fetch("SELECT display_name FROM actors")]]
    for name, page in pages.items():
        assert page.status_code == 200 and f'<html lang="{locale}">' in page.text, name
        assert_no_english(page.text, f"{locale} {name}", user_text)


async def test_retention_page_and_erasing_a_case(client, centre, pool) -> None:
    pid, manager = centre["pid"], centre["browsers"]["manager"]
    url = f"/projects/{pid}/forms/support_center_followup/retention"
    page = await manager.get(client, url)
    assert page.status_code == 200 and "the retention period is off" in page.text
    bad = await manager.post(client, url, {"enabled": "yes", "months": "0", "scope": "whole"})
    assert bad.status_code == 400
    saved = await manager.post(client, url, {"enabled": "yes", "months": "12",
                                             "scope": "sensitive"})
    assert saved.status_code == 303
    page = await manager.get(client, saved.headers["location"])
    assert 'value="12"' in page.text and "Nothing is due." in page.text
    form_page = await manager.get(client, f"/projects/{pid}/forms/support_center_followup")
    assert "12 months" in form_page.text and "the next run erases 0 submissions" in form_page.text
    off = await manager.post(client, url, {"scope": "whole"})
    assert off.status_code == 303
    assert "the retention period is off" in (await manager.get(client, url)).text

    # erasing the case: a wrong code changes nothing; the right one removes it all
    case = f"/projects/{pid}/cases/{centre['case']}"
    wrong = await manager.post(client, case + "/erase", {"confirm": "not the code"})
    assert wrong.status_code == 400 and "Type the case code" in wrong.text
    assert (await manager.get(client, case)).status_code == 200
    done = await manager.post(client, case + "/erase", {"confirm": centre["code"]})
    assert done.status_code == 303, done.text
    assert (await manager.get(client, case)).status_code == 404
    for iid in centre["ids"]:
        assert await pool.fetchval("SELECT count(*) FROM submissions_all WHERE instance_id = $1",
                                   iid) == 0

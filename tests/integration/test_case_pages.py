"""The case pages: a support-centre case (the bundled intake and follow-up forms, real
submissions over OpenRosa) listed with its names from the forms, and its timeline: the intake,
each visit, what each changed, when it was received (in the reader's time zone), links to the
submissions; in Russian and Tajik without English; ministries get the 403 page."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from urllib.parse import quote

import pytest

from api.i18n import I18n
from tests.cases_seed import seed_case
from tests.integration.test_pages_infra import assert_no_english
from tests.pages_client import signed_in


@pytest.fixture(scope="module")
async def centre(client, pool, admin_headers, make_user):
    made = await client.post("/v1/projects", json={"name": f"cases-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)
    pid = made.json()["id"]
    seeded = await seed_case(client, pool, admin_headers, pid)
    users = {role: await make_user(role, pid) for role in ("manager", "researcher", "ministry")}
    browsers = {role: await signed_in(client, u["email"], u["password"])
                for role, u in users.items()}
    return {"pid": pid, **seeded, "browsers": browsers, "headers": admin_headers}


async def test_case_list_and_timeline(client, centre) -> None:
    pid, manager = centre["pid"], centre["browsers"]["manager"]
    listed = await manager.get(client, f"/projects/{pid}/cases")
    assert listed.status_code == 200
    row = re.search(rf'<tr>\s*<th scope="row"><a href="([^"]+)">{centre["code"]}</a>.*?</tr>',
                    listed.text, re.S)
    assert row and row.group(1) == f"/projects/{pid}/cases/{centre['case']}"
    # names from the forms' own labels: the centre (intake), the stage (follow-up), status
    en = I18n.for_locale("en")
    for shown in ("Dushanbe", "Vocational training", "Open", en.date(date(2026, 5, 4))):
        assert shown in row.group(0), shown
    assert "vocational_training" not in row.group(0)
    closed = await manager.get(client, f"/projects/{pid}/cases?status=closed")
    assert centre["code"] not in closed.text and "No case matches." in closed.text

    page = await manager.get(client, row.group(1))
    assert page.status_code == 200
    entries = re.findall(r'<li id="version-(\d)">\s*<h3>([^<]+)', page.text)
    assert [(v, h.strip()) for v, h in entries] == [
        ("1", f"{en.date(date(2026, 3, 2))} · Intake"),
        ("2", f"{en.date(date(2026, 4, 1))} · Follow-up visit"),
        ("3", f"{en.date(date(2026, 5, 4))} · Follow-up visit")]
    third = page.text[page.text.index('id="version-3"'):]
    # what the visit changed, named by the follow-up form's question and choices
    assert re.search(r"Reintegration stage now:</span> <del>Receiving services</del> → "
                     r"<ins>Vocational training</ins>", third)
    assert page.text.count(f"{centre['code']}</ins>") == 1  # the intake's code, once
    # received: the server's time, shown in Asia/Dushanbe (the default zone)
    rest = (await client.get(f"/v1/projects/{pid}/datasets/cases/entities/{centre['case']}"
                             "/timeline", headers=centre["headers"])).json()
    received = datetime.fromisoformat(rest["entries"][2]["receivedAt"].replace("Z", "+00:00"))
    assert en.datetime(received) in third
    assert I18n.for_locale("en", "Asia/Dushanbe").local(received).utcoffset().seconds == 5 * 3600
    # each entry links to the submission that made it
    links = re.findall(r'href="(/projects/\d+/forms/[^"]+/submissions/[^"]+)"', page.text)
    assert len(links) == 3 and links[2].endswith(quote(centre["ids"][2], safe=""))
    assert (await manager.get(client, links[2])).status_code == 200
    assert "Under 18" in page.text or "under 18" in page.text  # the age group, named


@pytest.mark.parametrize("locale", ["ru", "tg"])
async def test_case_pages_in_russian_and_tajik(client, centre, pool, locale) -> None:
    pid, researcher = centre["pid"], centre["browsers"]["researcher"]
    researcher.lang = locale
    try:
        pages = {"list": await researcher.get(client, f"/projects/{pid}/cases"),
                 "case": await researcher.get(client, f"/projects/{pid}/cases/{centre['case']}")}
    finally:
        researcher.lang = None
    stage = {"ru": "Профессиональное обучение", "tg": "Омӯзиши касбӣ"}[locale]
    user_text = [centre["code"], *[r["title"] for r in await pool.fetch(
        "SELECT DISTINCT title FROM form_defs WHERE title IS NOT NULL")],
        *[r["display_name"] for r in await pool.fetch("SELECT display_name FROM actors")]]
    for name, page in pages.items():
        assert page.status_code == 200 and f'<html lang="{locale}">' in page.text
        assert stage in page.text, name
        assert_no_english(page.text, f"{locale} cases {name}", user_text)


async def test_ministry_may_not_see_cases(client, centre) -> None:
    pid, ministry = centre["pid"], centre["browsers"]["ministry"]
    for path in (f"/projects/{pid}/cases", f"/projects/{pid}/cases/{centre['case']}"):
        page = await ministry.get(client, path)
        assert page.status_code == 403 and "DU-2026" not in page.text
    missing = await centre["browsers"]["manager"].get(client, f"/projects/{pid}/cases/nope")
    assert missing.status_code == 404


async def test_case_list_pages_and_searches_by_centre_stage_and_code(client, centre) -> None:
    """Last in this module: it adds 55 newer cases (one bulk REST request), so the seeded case
    moves to the second page of the list, newest first."""
    pid, manager = centre["pid"], centre["browsers"]["manager"]
    entities = [{"label": f"KH-{i:03d}", "data": {"centre": "khujand", "stage": "in_shelter",
                                                 "status": "open"}} for i in range(30)]
    entities += [{"label": f"DU-X{i:03d}", "data": {"centre": "dushanbe", "stage": "case_closed",
                                                   "status": "closed"}} for i in range(25)]
    made = await client.post(f"/v1/projects/{pid}/datasets/cases/entities", headers=centre["headers"],
                             json={"entities": entities, "source": {"name": "paging test"}})
    assert made.status_code == 200, made.text

    def codes(page) -> list[str]:
        return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', page.text)

    async def listed(query: str):
        page = await manager.get(client, f"/projects/{pid}/cases{query}")
        assert page.status_code == 200, query
        return page

    first = await listed("")
    assert len(codes(first)) == 50 and "56 cases match." in first.text and "Shown: 1–50." in first.text
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first.text).group(1)
    second = await listed(older[len(f"/projects/{pid}/cases"):].replace("&amp;", "&"))
    assert codes(second)[-1] == centre["code"] and len(codes(second)) == 6
    assert 'rel="prev">Newer</a>' in second.text and 'rel="next"' not in second.text
    # by centre, by stage and status, by a part of the code (any case), and together
    khujand = await listed("?centre=khujand")
    assert sorted(codes(khujand)) == [f"KH-{i:03d}" for i in range(30)]
    assert '<option value="khujand" selected>Khujand support centre</option>' in khujand.text
    closed = await listed("?stage=case_closed&status=closed")
    assert len(codes(closed)) == 25 and all(c.startswith("DU-X") for c in codes(closed))
    assert sorted(codes(await listed("?code=kh-00"))) == [f"KH-00{i}" for i in range(10)]
    assert codes(await listed(f"?code={centre['code'][-6:].lower()}&stage=vocational_training")) \
        == [centre["code"]]
    nothing = await listed("?centre=khujand&code=DU-X")
    assert codes(nothing) == [] and "No case matches." in nothing.text
    # a value the forms do not have is no search, not an error
    assert len(codes(await listed("?centre=nowhere&offset=abc"))) == 50

"""GET /v1/projects/{pid}/summaries/risk and risk.xlsx: the JSON shape, counts equal to the
screenings, disclosure control for ministries, review states, periods, the district guard,
and the workbook."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime

import openpyxl
import pytest

from api.services.publications import due_month
from tests.summaries_seed import (
    publish_now,
    random_answers,
    screening_project,
    submission_xml,
    submit,
)

K = 10  # the test settings' disclosure_k
D = 3  # the perturbation's maximum adjustment
# what the current publication counts: interviews through the last month due (7-day lag), or
# of unknown date
THROUGH = due_month(datetime.now(UTC), 7)
THROUGH_LABEL = f"{THROUGH // 100:04d}-{THROUGH % 100:02d}"
PUBLISHED = ("coalesce(s.review_state, 'received') <> 'rejected' AND (sc.interview_date IS NULL "
             f"OR summary_month(sc.interview_date) <= {THROUGH})")


@pytest.fixture(scope="module")
async def seeded(client, admin_headers, make_user, pool, settings):
    pid = await screening_project(client, admin_headers)
    rng = random.Random(2026)
    keys = []
    for i in range(170):
        instance = f"uuid:{uuid.uuid4()}"
        # Khujand gets many screenings, other districts few: both kept and guarded districts
        place = {"region": "TJ-SU", "district": "TJ-SU-KHUJAND"} if i % 3 == 0 else {}
        await submit(client, admin_headers, pid, submission_xml(random_answers(rng, **place), instance_id=instance))
        keys.append(instance)
    ministry = await make_user("ministry", pid)
    researcher = await make_user("researcher", pid)
    await publish_now(pool, settings, pid)
    return {"pid": pid, "keys": keys, "ministry": ministry["headers"], "researcher": researcher["headers"]}


async def recount(pool, pid, sql_by: str, where: str = "coalesce(s.review_state, 'received') <> 'rejected'"):
    rows = await pool.fetch(
        f"SELECT {sql_by}, count(*) FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
        f"JOIN forms f ON f.id = sc.form_id WHERE f.project_id = $1 AND NOT sc.consent_refused "
        f"AND {where} GROUP BY {', '.join(str(i + 1) for i in range(sql_by.count(',') + 1))}", pid)
    return {tuple(r[:-1]): r[-1] for r in rows}


async def test_json_shape_and_counts_without_disclosure_control(client, admin_headers, seeded, pool) -> None:
    pid = seeded["pid"]
    response = await client.get(f"/v1/projects/{pid}/summaries/risk?by=region,risk_level&disclosure=off",
                                headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"k", "rubricVersions", "by", "cells", "totals"}
    assert body["k"] is None and body["by"] == ["region", "risk_level"]
    assert body["rubricVersions"] == ["2026.1"]
    expected = await recount(pool, pid, "sc.region, sc.risk_level")
    cells = {(c["region"], c["risk_level"]): c["count"] for c in body["cells"]}
    assert {k: v for k, v in cells.items() if v} == expected
    assert all(set(c) == {"region", "risk_level", "count", "suppressed"} for c in body["cells"])
    grand = [t for t in body["totals"] if set(t) == {"count", "suppressed"}]
    assert grand == [{"count": sum(expected.values()), "suppressed": False}]
    by_region = {t["region"]: t["count"] for t in body["totals"] if "region" in t}
    assert by_region["TJ-SU"] == sum(v for (r, _), v in expected.items() if r == "TJ-SU")
    assert {t["risk_level"] for t in body["totals"] if "risk_level" in t} == {"low", "medium", "high"}


async def test_ministry_gets_disclosure_control(client, seeded, pool) -> None:
    pid = seeded["pid"]
    response = await client.get(f"/v1/projects/{pid}/summaries/risk?by=region,risk_level",
                                headers=seeded["ministry"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["k"] == K and body["disclosureControl"] is True
    method = body["disclosure"]
    assert method["maxAdjustment"] == D and method["variance"] > 0 and method["additive"] is False
    assert body["publication"]["throughMonth"] == THROUGH_LABEL
    expected = await recount(pool, pid, "sc.region, sc.risk_level", PUBLISHED)
    suppressed = [c for c in body["cells"] if c["suppressed"]]
    assert suppressed, "the seeded data has small cells"
    adjusted = 0
    for cell in body["cells"]:
        true = expected.get((cell["region"], cell["risk_level"]), 0)
        if cell["suppressed"]:
            assert cell["count"] is None and true < K
        else:
            assert true >= K and cell["count"] >= K and abs(cell["count"] - true) <= D
            adjusted += cell["count"] != true
    for item in body["totals"]:
        assert item["suppressed"] or item["count"] >= K
    # the same persons, the same number: the grand total is the one of a table by sex
    by_sex = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=sex", headers=seeded["ministry"])).json()
    assert by_sex["totals"][-1] == body["totals"][-1]
    region_margin = {t["region"]: t["count"] for t in body["totals"] if "region" in t}
    by_region = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=region", headers=seeded["ministry"])).json()
    assert {c["region"]: c["count"] for c in by_region["cells"]} == region_margin
    off = await client.get(f"/v1/projects/{pid}/summaries/risk?by=region&disclosure=off", headers=seeded["ministry"])
    assert off.status_code == 403 and off.json()["slug"] == "summary-disclosure-required"
    microdata = await client.get(f"/v1/projects/{pid}/forms/risk_screening/submissions", headers=seeded["ministry"])
    assert microdata.status_code == 403


async def test_researcher_may_turn_disclosure_control_off(client, seeded) -> None:
    pid = seeded["pid"]
    on = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=sex", headers=seeded["researcher"])).json()
    off = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=sex&disclosure=off", headers=seeded["researcher"])).json()
    assert on["k"] == K and off["k"] is None
    assert all(not c["suppressed"] for c in off["cells"])


async def test_multi_valued_dimension_counts_a_person_in_each_group(client, admin_headers, seeded, pool) -> None:
    pid = seeded["pid"]
    body = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=risk_group&disclosure=off",
                             headers=admin_headers)).json()
    rows = await pool.fetch(
        "SELECT g, count(*) FROM screenings sc JOIN forms f ON f.id = sc.form_id "
        "JOIN submissions s ON s.id = sc.submission_id, unnest(sc.risk_groups) g "
        "WHERE f.project_id = $1 AND coalesce(s.review_state, 'received') <> 'rejected' GROUP BY g", pid)
    assert {c["risk_group"]: c["count"] for c in body["cells"] if c["count"]} == {r[0]: r[1] for r in rows}
    persons = sum((await recount(pool, pid, "sc.form_id")).values())
    assert body["totals"] == [{"count": persons, "suppressed": False}]


async def test_rejected_are_left_out_unless_asked_for(client, admin_headers, seeded) -> None:
    pid = seeded["pid"]
    url = f"/v1/projects/{pid}/summaries/risk?disclosure=off"
    before = (await client.get(url, headers=admin_headers)).json()["totals"][0]["count"]
    key = seeded["keys"][5]
    patched = await client.patch(f"/v1/projects/{pid}/forms/risk_screening/submissions/{key}",
                                 json={"reviewState": "rejected"}, headers=admin_headers)
    assert patched.status_code == 200
    after = (await client.get(url, headers=admin_headers)).json()["totals"][0]["count"]
    rejected = (await client.get(url + "&reviewState=rejected", headers=admin_headers)).json()["totals"][0]["count"]
    assert after == before - 1 and rejected >= 1
    everyone = (await client.get(url + "&reviewState=received,hasIssues,edited,approved,rejected",
                                 headers=admin_headers)).json()["totals"][0]["count"]
    assert everyone == after + rejected


async def test_periods_and_ranges(client, admin_headers, seeded, pool) -> None:
    pid = seeded["pid"]
    body = (await client.get(
        f"/v1/projects/{pid}/summaries/risk?by=risk_level&period=quarter&from=2026-01-01&to=2026-06-30&disclosure=off",
        headers=admin_headers)).json()
    assert {c["period"] for c in body["cells"]} == {"2026-Q1", "2026-Q2"}
    expected = await recount(pool, pid, "extract(quarter FROM sc.interview_date)::int, sc.risk_level",
                             "coalesce(s.review_state, 'received') <> 'rejected' AND sc.interview_date < '2026-07-01'")
    got = {(int(c["period"][-1]), c["risk_level"]): c["count"] for c in body["cells"] if c["count"]}
    assert got == expected
    months = (await client.get(f"/v1/projects/{pid}/summaries/risk?period=month&from=2026-03&to=2026-04"
                               "&disclosure=off", headers=admin_headers)).json()
    assert [t["period"] for t in months["totals"]] == ["2026-03", "2026-04"]
    for bad in ("from=2026-01-15", "to=2026-02-27", "by=region,sex,risk_level", "by=colour", "period=week",
                "colour=red", "reviewState=lost", "from=2026-05&to=2026-04"):
        response = await client.get(f"/v1/projects/{pid}/summaries/risk?{bad}", headers=admin_headers)
        assert response.status_code == 400, bad
        assert response.json()["slug"] == "summary-query-invalid"


async def test_bounded_query_language(client, seeded) -> None:
    """Under disclosure control: one value per filter, at most two dimensions, no review
    state, periods only whole."""
    pid = seeded["pid"]
    url = f"/v1/projects/{pid}/summaries/risk"
    for bad in ("sex=female,male,other", "by=region,risk_level&sex=female", "by=sex&sex=female",
                "reviewState=approved", "from=2026-01&to=2026-02", "from=2026-02&to=2026-04",
                "from=2026-01", "risk_group=CHILD,POSSIBLE_VICTIM", "from=2030-01&to=2030-01"):
        response = await client.get(f"{url}?{bad}", headers=seeded["ministry"])
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["slug"] == "summary-query-invalid"
    for good in ("by=region&sex=female", "by=risk_level&period=month&from=2026-01&to=2026-03",
                 "from=2026-01&to=2026-12&by=sex", "from=2026-02&to=2026-02", "sex=other"):
        response = await client.get(f"{url}?{good}", headers=seeded["ministry"])
        assert response.status_code == 200, (good, response.text)


async def test_district_guard(client, admin_headers, seeded, pool) -> None:
    pid = seeded["pid"]
    body = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=district", headers=seeded["ministry"])).json()
    raw = await recount(pool, pid, "sc.district")
    shown = [c["district"] for c in body["cells"]]
    for district in shown:
        if district.startswith("other districts of "):
            continue
        assert raw[(district,)] >= 5 * K
    assert any(d.startswith("other districts of ") for d in shown)
    assert any(not d.startswith("other districts of ") for d in shown)
    small = min(raw, key=raw.get)[0]
    guarded = await client.get(f"/v1/projects/{pid}/summaries/risk?district={small}", headers=seeded["ministry"])
    assert guarded.status_code == 403 and guarded.json()["slug"] == "summary-district-guarded"
    plain = (await client.get(f"/v1/projects/{pid}/summaries/risk?by=district&disclosure=off",
                              headers=admin_headers)).json()
    assert {c["district"] for c in plain["cells"]} == {d for (d,) in raw}


async def test_three_dimensions_and_filters(client, admin_headers, seeded, pool) -> None:
    pid = seeded["pid"]
    body = (await client.get(
        f"/v1/projects/{pid}/summaries/risk?by=region,risk_level&sex=female&age_band=14-17,18-24&disclosure=off",
        headers=admin_headers)).json()
    expected = await recount(pool, pid, "sc.region, sc.risk_level",
                             "coalesce(s.review_state, 'received') <> 'rejected' AND sc.sex = 'female' "
                             "AND sc.age_band IN ('14-17', '18-24')")
    assert {(c["region"], c["risk_level"]): c["count"] for c in body["cells"] if c["count"]} == expected


async def test_workbook(client, seeded) -> None:
    pid = seeded["pid"]
    response = await client.get(f"/v1/projects/{pid}/summaries/risk.xlsx", headers=seeded["ministry"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Risk level by region", "Risk groups", "Control forms",
                               "Exploitation types", "Risk level by quarter", "Notes"]
    notes = {row[0]: row[1] for row in book["Notes"].iter_rows(min_row=2, values_only=True)}
    assert notes["k (threshold)"] == str(K) and "x" in notes["Suppression"]
    assert notes["Maximum adjustment D"] == str(D) and float(notes["Variance of the adjustment"]) > 0
    assert notes["Publication"].startswith(THROUGH_LABEL) and notes["Revisions"].startswith("none")
    assert any(key.startswith("Perturbation table") for key in notes)
    assert notes["Across publications"].startswith("Record keys never change")
    assert notes["Rubric version(s)"] == "2026.1"
    values = [v for row in book["Risk level by region"].iter_rows(values_only=True) for v in row]
    assert "x" in values
    assert all(v >= K for v in values if isinstance(v, int))
    one = await client.get(f"/v1/projects/{pid}/summaries/risk.xlsx?by=sex&period=year", headers=seeded["ministry"])
    assert openpyxl.load_workbook(io.BytesIO(one.content)).sheetnames == ["sex", "Notes"]


async def test_one_publication_per_month_under_concurrent_publishers(client, admin_headers, make_user, pool,
                                                                    settings) -> None:
    """Before a project has a publication, the API says so (503, Retry-After, in the reader's
    language) at once; the build the request asks for is put off while the data is fresh (as
    every test's: the test settings never let data settle), so no request freezes half of a
    test's data. Two publishers at once (two server processes, or the app and `fieldsurvey
    publish`) make one publication; both get it."""
    import asyncio

    pid = await screening_project(client, admin_headers)
    rng = random.Random(3)
    for _ in range(12):
        await submit(client, admin_headers, pid, submission_xml(random_answers(rng, consent="yes")))
    ministry = await make_user("ministry", pid)
    for path in ("risk", "risk.xlsx", "reintegration"):
        pending = await client.get(f"/v1/projects/{pid}/summaries/{path}",
                                   headers={**ministry["headers"], "Accept-Language": "ru"})
        assert pending.status_code == 503 and pending.headers["retry-after"].isdigit(), path
        assert pending.headers["content-type"].startswith("application/problem+json")
        assert pending.json()["slug"] == "publication-pending"
        assert pending.json()["detail"].startswith("У этого проекта ещё нет публикации сводок")
    report = await client.get(f"/v1/projects/{pid}/forms/risk_screening/report", headers=ministry["headers"])
    assert report.status_code == 503 and report.json()["slug"] == "publication-pending"
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", pid) == 0

    first, second = await asyncio.gather(publish_now(pool, settings, pid), publish_now(pool, settings, pid))
    assert first.id == second.id and first.through_month == THROUGH
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", pid) == 1


async def test_the_publisher_runs_in_the_app_and_from_the_cli(client, admin_headers, pool, settings,
                                                             database_url, data_dir) -> None:
    """`fieldsurvey publish --project` makes one project's due publication; the app's
    publisher (its lifespan, as at startup) makes every other project's that has data, on a
    connection of its own, and leaves the ones made before as they are."""
    import asyncio
    import dataclasses
    from types import SimpleNamespace

    from api.services.publications import publish_in_background
    from tests.integration.test_cli import run_cli

    by_cli, by_app = [await cases_project(client, admin_headers) for _ in range(2)]
    result = await asyncio.to_thread(run_cli, ["publish", "--project", str(by_cli)], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    assert f"project {by_cli}: publication through {THROUGH_LABEL}" in result.stdout
    made = await pool.fetchval("SELECT id FROM publications WHERE project_id = $1", by_cli)
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", by_app) == 0

    app = SimpleNamespace(state=SimpleNamespace(
        settings=dataclasses.replace(settings, publication_interval_seconds=3600, publication_settle_seconds=0),
        dsn=database_url))
    async with publish_in_background(app):
        for _ in range(600):
            if await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", by_app):
                break
            await asyncio.sleep(0.1)
    rows = await pool.fetch("SELECT project_id, id, through_month FROM publications "
                            "WHERE project_id = ANY($1::integer[])", [by_cli, by_app])
    assert {(r["project_id"], r["through_month"]) for r in rows} == {(by_cli, THROUGH), (by_app, THROUGH)}
    assert {r["id"] for r in rows if r["project_id"] == by_cli} == {made}


async def test_rollups_are_the_sums_of_their_months(seeded, pool) -> None:
    """A whole quarter, year or everything is read from the publication's rollups: each of
    their cells is exactly the sum of its months' cells (persons and keys), so the published
    value is the one the months would give."""
    from db import publications as publications_db
    from db.publications import _rollup

    publication_id = await pool.fetchval("SELECT id FROM publications WHERE project_id = $1", seeded["pid"])
    assert _rollup(None, 0, 999_912)[0] == publications_db.EVERYTHING
    assert _rollup("month", 202601, 202612) is None and _rollup(None, 202603, 202603) is None
    async with pool.acquire() as conn:
        for dims in ((), (0,), (0, 5), (6, 7)):
            months = await publications_db.read_cells(conn, publication_id, dims, period="month",
                                                      month_from=0, month_to=999_912)
            for period, span in ((None, (0, 999_912)), ("year", (0, 999_912)), ("quarter", (202601, 202612)),
                                 (None, (202604, 202606)), ("year", (202501, 202512))):
                assert _rollup(period, *span) is not None
                rolled = await publications_db.read_cells(conn, publication_id, dims, period=period,
                                                          month_from=span[0], month_to=span[1])
                summed: dict = {}
                for (month, *values), cell in months.items():
                    if not span[0] <= month <= span[1]:
                        continue
                    key = {None: 0, "year": month // 100,
                           "quarter": (month // 100) * 10 + (month % 100 + 2) // 3}[period]
                    summed[(key, *values)] = summed.get((key, *values), 0) + cell
                assert rolled == summed, (dims, period, span)


async def test_a_due_publication_is_made_when_first_asked_for(client, admin_headers, pool, settings,
                                                              database_url) -> None:
    """The first request that finds the due publication missing starts making it in the
    background (the app's publisher, its own connection) and does not wait: it answers with
    the publication before, or publication-pending when there is none. Asking again while it
    is being made starts nothing more; once made, requests get it. While another process
    holds the publishers' lock, nothing is made (one publication at a time), and the request
    that asked is not repeated before Retry-After (the timer's next round makes it)."""
    import dataclasses
    from types import SimpleNamespace

    from api.problems import Problem
    from api.services.publications import _BUILD_LOCK, latest_publication, publish_in_background
    from db import publications as publications_db
    from db import summaries as summaries_db

    first, second = [await cases_project(client, admin_headers) for _ in range(2)]  # cheaper than forms
    on_request = dataclasses.replace(settings, publication_settle_seconds=0)
    app = SimpleNamespace(state=SimpleNamespace(settings=on_request, dsn=database_url))
    async with publish_in_background(app), pool.acquire() as conn:
        publisher = app.state.publisher
        async with pool.acquire() as other:  # another process is making a publication
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", _BUILD_LOCK)
            try:
                with pytest.raises(Problem) as pending:  # none yet: pending, at once
                    await latest_publication(conn, first, on_request)
                assert await publisher.builds[first] is None  # asked, but left to the other one
            finally:
                await other.execute("SELECT pg_advisory_unlock($1)", _BUILD_LOCK)
        assert pending.value.slug == "publication-pending" and pending.value.headers["Retry-After"].isdigit()
        assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", first) == 0
        with pytest.raises(Problem):
            await latest_publication(conn, first, on_request)
        assert publisher.builds[first].done()  # not asked again before Retry-After
        made = await publisher.build(first)  # the timer's next round
        assert made.through_month == THROUGH
        assert (await latest_publication(conn, first, on_request)).id == made.id
        # a publication before the due one: served while the due one is made
        forms = await summaries_db.screening_form_ids(conn, second)
        before_due = await publications_db.publish(conn, second, forms, THROUGH - 1 if THROUGH % 100 > 1 else THROUGH - 89)
        assert (await latest_publication(conn, second, on_request)).id == before_due.id
        build = publisher.builds[second]
        assert publisher.ask(second) is build  # asked again meanwhile: the same build
        due = await build
        assert due.through_month == THROUGH and due.previous_month == before_due.through_month
        assert (await latest_publication(conn, second, on_request)).id == due.id


async def test_data_that_never_settles_puts_a_publication_off_but_never_stops_it(
        client, admin_headers, pool, settings, database_url) -> None:
    """Data that keeps changing (here a case just updated) puts the automatic publication off;
    once it has been put off for `max_put_off_seconds` (a day; here lowered), the next try
    makes it from what is committed."""
    import dataclasses

    from api.services.publications import MAX_PUT_OFF_SECONDS, Publisher

    pid = await cases_project(client, admin_headers)
    publisher = Publisher(database_url, dataclasses.replace(settings, publication_settle_seconds=3600))
    assert publisher.max_put_off_seconds == MAX_PUT_OFF_SECONDS == 86_400
    assert await publisher.build(pid) is None  # put off: the case was stored just now
    assert await publisher.build(pid) is None  # and again, within the day
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", pid) == 0
    publisher.max_put_off_seconds = 0.0  # the day has passed
    made = await publisher.build(pid)
    assert made is not None and made.through_month == THROUGH
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", pid) == 1


async def test_a_publication_is_one_snapshot_of_settled_data(client, admin_headers, pool, settings) -> None:
    """An import while a publication is being made: what commits after the build's cut-off
    (its snapshot) is in none of its parts (members, cells), and is the next publication's
    revision. The automatic publishers make none while the covered data is still changing
    (publication_settle_seconds)."""
    import asyncio
    import dataclasses

    from api.services.publications import publish_due
    from db.publications import Unsettled

    pid = await screening_project(client, admin_headers)
    rng = random.Random(9)

    def answers() -> dict:
        found = random_answers(rng, consent="yes")
        found["interview_date"] = "2026-03-10"
        return found

    for _ in range(4):
        await submit(client, admin_headers, pid, submission_xml(answers()))
    async with pool.acquire() as conn:
        with pytest.raises(Unsettled):  # just stored: not settled for the app's publishers
            await publish_due(conn, pid, dataclasses.replace(settings, publication_settle_seconds=3600), settle=True)
    assert await pool.fetchval("SELECT count(*) FROM publications WHERE project_id = $1", pid) == 0
    async with pool.acquire() as holder:
        # hold the build after its snapshot (its first write waits for this lock) ...
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE publication_months IN SHARE ROW EXCLUSIVE MODE")
        holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
        build = asyncio.create_task(publish_now(pool, settings, pid))
        while not await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)) "
                "AND query LIKE 'INSERT INTO publication_months%'", holder_pid):
            await asyncio.sleep(0.02)
        for _ in range(3):  # ... while an import commits three more screenings of March
            await submit(client, admin_headers, pid, submission_xml(answers()))
        await lock.commit()
        made = await build
    stored = await pool.fetchval("SELECT count(*) FROM screenings sc JOIN forms f ON f.id = sc.form_id "
                                 "WHERE f.project_id = $1", pid)
    assert stored == 7
    members = await pool.fetchval("SELECT count(*) FROM publication_members WHERE publication_id = $1", made.id)
    total = await pool.fetchval("SELECT n FROM publication_cells WHERE publication_id = $1 AND dims = 0 "
                                "AND month = 202603", made.id)
    assert members == total == 4
    year, month = divmod(THROUGH, 100)
    later = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)  # the month after THROUGH's
    later = datetime(later.year + later.month // 12, later.month % 12 + 1, 9, tzinfo=UTC)
    async with pool.acquire() as conn:
        revision = await publish_due(conn, pid, settings, now=later)
    assert revision.revised == (202603,)
    assert await pool.fetchval("SELECT n FROM publication_cells WHERE publication_id = $1 AND dims = 0 "
                               "AND month = 202603", revision.id) == 7


async def test_large_tables_are_kept_whole_with_the_same_values(seeded, pool, settings, monkeypatch) -> None:
    """A large published table (the threshold lowered to this small project's largest ones) is
    computed once and kept in publication_tables, with the publication or when first asked
    for; read back, it is the very table computed (every value, suppression and margin)."""
    from api.services import summaries
    from api.services.summaries import (
        SummaryRequest,
        build_summary,
        forget_published_tables,
        precompute_tables,
    )
    from db import summaries as summaries_db

    pid = seeded["pid"]
    async with pool.acquire() as conn:
        publication = await latest_publication_of(conn, pid)
        forms = await summaries_db.screening_form_ids(conn, pid)
        requests = [SummaryRequest(by=("district", "risk_group"), period="month"),
                    SummaryRequest(by=("risk_level", "region"), period="quarter"),
                    SummaryRequest(by=("risk_group",), period="month", filters={"sex": ("female",)})]
        computed = []
        for request in requests:
            forget_published_tables()
            computed.append(await build_summary(conn, request.with_forms(forms), K, publication))
        facts = await summaries._facts(conn, publication, K)
        sizes = [summaries._table_size(r, facts, publication, K) for r in requests]
        monkeypatch.setattr(summaries, "PRECOMPUTED_CELLS", sizes[0])
        made = await precompute_tables(conn, publication, K)  # without a filter or range, >= the first's size
        kept = await conn.fetch("SELECT request FROM publication_tables WHERE publication_id = $1", publication.id)
        assert summaries._stored_key(requests[0]) in {r["request"] for r in kept} and made == len(kept)
        monkeypatch.setattr(summaries, "PRECOMPUTED_CELLS", min(sizes))
        for request, expected in zip(requests, computed, strict=True):  # kept when first asked, then read
            for _ in range(2):
                forget_published_tables()
                again = await build_summary(conn, request.with_forms(forms), K, publication)
                assert again.slices == expected.slices and again.publication == expected.publication
        kept = await conn.fetch("SELECT request FROM publication_tables WHERE publication_id = $1", publication.id)
        assert {summaries._stored_key(r) for r in requests} <= {r["request"] for r in kept}


async def latest_publication_of(conn, pid: int):
    from db import publications as publications_db

    return await publications_db.latest_publication(conn, pid, THROUGH)


async def cases_project(client, admin_headers) -> int:
    """A project with something to publish: one support-centre case (no form to publish)."""
    made = await client.post("/v1/projects", json={"name": f"cases-{uuid.uuid4().hex[:8]}"}, headers=admin_headers)
    pid = made.json()["id"]
    await client.post(f"/v1/projects/{pid}/datasets", json={"name": "cases"}, headers=admin_headers)
    await client.post(f"/v1/projects/{pid}/datasets/cases/properties", json={"name": "status"}, headers=admin_headers)
    bulk = await client.post(f"/v1/projects/{pid}/datasets/cases/entities", headers=admin_headers,
                             json={"entities": [{"label": "XX-2026-000001", "data": {"status": "open"}}],
                                   "source": {"name": "seed"}})
    assert bulk.status_code == 200, bulk.text
    return pid

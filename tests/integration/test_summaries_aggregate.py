"""The summary aggregates stay equal to a full recount from `screenings` after random
sequences of ingest, edit, review (reject, approve, ...), reclassification and folding; and a
read is exact before the deltas are folded."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services.reclassify import reclassify_screenings
from db import summaries
from tests.summaries_seed import random_answers, screening_project, submission_xml, submit

OPERATIONS = ["ingest", "ingest", "ingest", "edit", "reject", "approve", "hasIssues",
              "rubric_change", "reclassify", "fold"]


@pytest.fixture(scope="module")
async def project(client, admin_headers):
    return await screening_project(client, admin_headers)


async def oracle(pool, form_ids, by: tuple[str, ...], reviews) -> dict[tuple, int]:
    """The same counts straight from screenings (a scan; only the test does this)."""
    columns = [summaries.BY_NAME[name] for name in by]
    selects, laterals = [], []
    for i, dim in enumerate(columns):
        if dim.multi:
            laterals.append(f"CROSS JOIN LATERAL unnest(summary_sorted(sc.{dim.column})) AS u{i}(v)")
            selects.append(f"u{i}.v")
        else:
            selects.append(f"coalesce(sc.{dim.column}, '')")
    keys = ", ".join(["0", *selects])
    rows = await pool.fetch(
        f"SELECT {keys}, count(*) FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
        f"{' '.join(laterals)} WHERE NOT sc.consent_refused AND sc.form_id = ANY($1) "
        f"AND coalesce(s.review_state, 'received') = ANY($2) GROUP BY {', '.join(str(i + 1) for i in range(len(by) + 1))}",
        form_ids, list(reviews),
    )
    return {tuple(r[:-1]): r[-1] for r in rows}


QUERIES = [(), ("region",), ("risk_level", "region"), ("risk_group",), ("sex", "control_form"),
           ("exploitation_type", "risk_group")]


async def check_reads(pool, form_ids) -> None:
    reviews = ("received", "hasIssues", "edited", "approved")
    async with pool.acquire() as conn:
        for by in QUERIES:
            got = await summaries.count_persons(conn, summaries.CountQuery(form_ids, by, reviews=reviews))
            assert got == await oracle(pool, form_ids, by, reviews), by
        # by year (the yearly rows, and the months of unknown dates), and a whole-year range
        query = summaries.CountQuery(form_ids, ("risk_level",), reviews=reviews, period="year")
        got = await summaries.count_persons(conn, query)
        expected = await pool.fetch(
            "SELECT coalesce(extract(year FROM sc.interview_date)::int, 0), sc.risk_level, count(*) "
            "FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
            "WHERE NOT sc.consent_refused AND sc.form_id = ANY($1) "
            "AND coalesce(s.review_state, 'received') <> 'rejected' GROUP BY 1, 2", form_ids)
        assert got == {tuple(r[:-1]): r[-1] for r in expected}
        query = summaries.CountQuery(form_ids, ("sex",), reviews=reviews, month_from=202601, month_to=202612)
        got = await summaries.count_persons(conn, query)
        expected = await pool.fetch(
            "SELECT 0, sc.sex, count(*) FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
            "WHERE NOT sc.consent_refused AND sc.form_id = ANY($1) AND sc.interview_date >= '2026-01-01' "
            "AND sc.interview_date < '2027-01-01' "
            "AND coalesce(s.review_state, 'received') <> 'rejected' GROUP BY 1, 2", form_ids)
        assert got == {tuple(r[:-1]): r[-1] for r in expected}
        # three dimensions: a shape built on first use (then kept current by the folder)
        query = summaries.CountQuery(form_ids, ("region", "risk_group"), {"sex": ["female"]}, reviews=reviews)
        got = await summaries.count_persons(conn, query)
        expected = await pool.fetch(
            "SELECT 0, coalesce(sc.region, ''), g, count(*) FROM screenings sc "
            "JOIN submissions s ON s.id = sc.submission_id, unnest(summary_sorted(sc.risk_groups)) g "
            "WHERE NOT sc.consent_refused AND sc.form_id = ANY($1) AND sc.sex = 'female' "
            "AND coalesce(s.review_state, 'received') <> 'rejected' GROUP BY 1, 2, 3", form_ids)
        assert got == {tuple(r[:-1]): r[-1] for r in expected}
        # five dimensions, and "any of" two risk groups: the wide aggregate
        query = summaries.CountQuery(
            form_ids, ("risk_level", "sex"),
            {"region": ["TJ-SU", "TJ-KT"], "age_band": ["14-17", "18-24", "25-34"],
             "risk_group": ["CHILD", "YOUTH"]}, reviews=reviews, period="quarter")
        assert summaries.plan(query.by, query.filters, await summaries.registered_shapes(conn))[0] == summaries.WIDE
        got = await summaries.count_persons(conn, query)
        expected = await pool.fetch(
            "SELECT coalesce((extract(year FROM sc.interview_date) * 10 "
            "+ extract(quarter FROM sc.interview_date))::int, 0), "
            "sc.risk_level, sc.sex, count(*) FROM screenings sc JOIN submissions s ON s.id = sc.submission_id "
            "WHERE NOT sc.consent_refused AND sc.form_id = ANY($1) AND sc.region IN ('TJ-SU', 'TJ-KT') "
            "AND sc.age_band IN ('14-17', '18-24', '25-34') AND sc.risk_groups && '{CHILD,YOUTH}' "
            "AND coalesce(s.review_state, 'received') <> 'rejected' GROUP BY 1, 2, 3", form_ids)
        assert got == {tuple(r[:-1]): r[-1] for r in expected}


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(st.sampled_from(OPERATIONS), min_size=4, max_size=14), seed=st.integers(0, 2**32))
async def test_aggregate_equals_a_full_recount(client, admin_headers, pool, project, ops, seed) -> None:
    rng = random.Random(seed)
    pid = project
    form_ids = await pool.fetchval(
        "SELECT array_agg(id) FROM forms WHERE project_id = $1 AND xml_form_id = 'risk_screening'", pid)
    keys = [r["instance_id"] for r in await pool.fetch(
        "SELECT instance_id FROM submissions WHERE form_id = ANY($1)", form_ids)]
    for op in ops:
        if op == "ingest" or not keys:
            for _ in range(rng.randint(1, 4)):
                instance = f"uuid:{uuid.uuid4()}"
                await submit(client, admin_headers, pid, submission_xml(random_answers(rng), instance_id=instance))
                keys.append(instance)
        elif op == "edit":
            key = rng.choice(keys)
            current = await pool.fetchval(
                "SELECT v.instance_id FROM submissions s JOIN submission_versions v "
                "ON v.id = s.current_version_id WHERE s.instance_id = $1", key)
            xml = submission_xml(random_answers(rng), instance_id=f"uuid:{uuid.uuid4()}",
                                 deprecated_id=current)
            await submit(client, admin_headers, pid, xml)
        elif op in ("reject", "approve", "hasIssues"):
            state = {"reject": "rejected", "approve": "approved", "hasIssues": "hasIssues"}[op]
            key = rng.choice(keys)
            response = await client.patch(
                f"/v1/projects/{pid}/forms/risk_screening/submissions/{key}",
                json={"reviewState": state}, headers=admin_headers)
            assert response.status_code == 200, response.text
        elif op == "rubric_change":
            # what a new rubric does to stored rows: other levels, groups and version, in a batch
            await pool.execute(
                "UPDATE screenings SET rubric_version = '2099.1', "
                "risk_level = (ARRAY['low','medium','high'])[1 + (submission_id % 3)], "
                "risk_groups = CASE WHEN submission_id % 2 = 0 THEN '{RETURNEE,CHILD}'::text[] ELSE '{}' END "
                "WHERE form_id = ANY($1) AND NOT consent_refused AND submission_id % $2 = 0",
                form_ids, rng.randint(1, 3))
        elif op == "reclassify":
            async with pool.acquire() as conn:
                await reclassify_screenings(conn, project_id=pid, batch_size=rng.randint(2, 50))
        elif op == "fold":
            async with pool.acquire() as conn:
                await summaries.fold_deltas(conn, batch=rng.randint(1, 40), max_batches=rng.randint(1, 3), wait=True)
        if rng.random() < 0.3:
            await check_reads(pool, form_ids)  # exact with deltas pending
    await check_reads(pool, form_ids)
    async with pool.acquire() as conn:
        await summaries.fold_deltas(conn, batch=rng.randint(5, 500), wait=True)
        assert await summaries.count_pending(conn) == 0
        assert await summaries.recount_differences(conn) == []
    await check_reads(pool, form_ids)


async def test_refusals_and_deletions_leave_no_count(client, admin_headers, pool, project) -> None:
    rng = random.Random(7)
    instance = f"uuid:{uuid.uuid4()}"
    await submit(client, admin_headers, project, submission_xml(random_answers(rng, consent="no"),
                                                                instance_id=instance))
    pending = await pool.fetchval(
        "SELECT count(*) FROM summary_deltas d JOIN forms f ON f.id = d.form_id WHERE f.project_id = $1 "
        "AND d.region = ''", project)
    assert pending == 0
    class Undo(Exception):
        pass

    async with pool.acquire() as conn:
        with pytest.raises(Undo):
            async with conn.transaction():  # a deleted screening takes its count away
                deleted = await conn.fetchval(
                    "DELETE FROM screenings WHERE submission_id = (SELECT min(s.id) FROM submissions s "
                    "JOIN forms f ON f.id = s.form_id WHERE f.project_id = $1) RETURNING submission_id",
                    project)
                assert deleted is not None
                await summaries.fold_deltas(conn, wait=True)
                assert await summaries.recount_differences(conn) == []
                raise Undo


async def test_migration_backfill_counts_screenings_stored_before_it(client, admin_headers, pool, project) -> None:
    """The migration's last statement counts the screenings that existed before it ran."""
    text = (Path(summaries.__file__).parent / "migrations" / "0004_summaries.sql").read_text()
    backfill = text[text.index("-- Screenings stored before this migration."):]

    class Undo(Exception):
        pass

    async with pool.acquire() as conn:
        with pytest.raises(Undo):
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(7240551004)")  # no folder meanwhile
                await conn.execute("DELETE FROM summary_deltas; DELETE FROM summary_cells; "
                                   "DELETE FROM summary_wide; DELETE FROM summary_versions")
                assert await summaries.recount_differences(conn) != []
                await conn.execute(backfill)
                await summaries.fold_deltas(conn, wait=True)
                assert await summaries.recount_differences(conn) == []
                raise Undo

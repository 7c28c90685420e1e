"""Page benchmark: a form with N risk screenings (default 100k); times the coordinator's pages
through a real `fieldsurvey serve` process over HTTP, as a browser would ask for them:

- the submissions table, page 1, and a deep page (keyset: the page after row 50,000, i.e.
  page 1,001 of 50 rows), unfiltered and filtered (review state, risk level, urgent,
  submitter, dates), and the htmx partial that a filter change fetches;
- a submission's page (answers with labels, classification, edit history, comments);
- the coordinator view (per-day counts, screenings needing review, app users' QR codes);
- the same table and view for managers with a row scope (api/scopes.py): one region (a fifth
  of the screenings), and one submitter (an eighth).

Target: each <= 300 ms on this machine. Prints median, 95th percentile and maximum of
--repeat requests (after a warm-up), and the server's process RSS.

    python bench/pages.py [-n 100000] [--repeat 30]

Uses DATABASE_URL's server, or an embedded PostgreSQL in a temporary directory; a fresh
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import token_hash  # noqa: E402
from api.services.submissions import Cursor  # noqa: E402
from bench.harness import create_database, database_server, drop_database, serve  # noqa: E402
from db import scopes as scopes_db  # noqa: E402
from db import submissions as submissions_db  # noqa: E402
from db import users as users_db  # noqa: E402
from db.pool import connect  # noqa: E402
from db.scopes import RowScope  # noqa: E402
from tests.integration.test_exports_scale import (  # noqa: E402
    generate_risk_screenings,
    load_risk_screening_target,
)

TARGET_MS = 300
SESSION_COOKIE = "fieldsurvey_session"

# Spread the generated screenings over the last 90 days up to now (so that the coordinator
# view's last 14 days are full), among 8 app users, with review states as a project has them.
SPREAD = """
WITH numbered AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n, count(*) OVER () AS total
    FROM submissions WHERE form_id = $1
)
UPDATE submissions s
SET created_at = now() - (numbered.total - numbered.n) * ($2::double precision * interval '1 second'),
    submitter_id = ($3::integer[])[1 + numbered.n % cardinality($3::integer[])],
    region = (ARRAY['TJ-DU', 'TJ-SU', 'TJ-KT', 'TJ-GB', 'TJ-RA'])[1 + numbered.n % 5],
    review_state = CASE WHEN numbered.n % 20 < 12 THEN NULL
                        WHEN numbered.n % 20 < 15 THEN 'approved'
                        WHEN numbered.n % 20 < 17 THEN 'hasIssues'
                        WHEN numbered.n % 20 < 18 THEN 'rejected'
                        ELSE 'edited' END
FROM numbered WHERE numbered.id = s.id
"""
# One submission with an edit (a second version with two answers changed) and comments.
EDIT = """
WITH old AS (
    UPDATE submission_versions SET current = false WHERE id = $1 RETURNING *
), ver AS (
    INSERT INTO submission_versions (submission_id, form_id, form_def_id, instance_id,
        deprecated_id, xml, xml_md5, answers, submitter_id, created_at)
    SELECT submission_id, form_id, form_def_id, 'uuid:' || gen_random_uuid(), instance_id, xml,
           xml_md5, jsonb_set(answers, '{age}', '"33"') || '{"sex": "female"}', submitter_id,
           now()
    FROM old RETURNING id, submission_id
)
SELECT id FROM ver
"""
# (a second statement: an UPDATE ... FROM a data-modifying CTE through the `submissions` view
# of migration 0050 is refused by PostgreSQL)
SET_CURRENT = "UPDATE submissions SET current_version_id = $2, edits = 1, updated_at = now() WHERE id = $1"


async def prepare(dsn: str, n: int) -> dict:
    conn = await connect(dsn)
    try:
        project_id = await conn.fetchval(
            "INSERT INTO projects (name) VALUES ('bench pages') RETURNING id"
        )
        form_id, def_id, schema = await load_risk_screening_target(conn, project_id)
        started = time.perf_counter()
        await generate_risk_screenings(conn, form_id, def_id, schema, n)
        phones = []
        for i in range(8):
            row = await users_db.create_field_key(
                conn, f"Phone {i + 1}", project_id, secrets.token_urlsafe(32), None
            )
            await users_db.assign_form(conn, row["id"], form_id)
            phones.append(row["id"])
        await conn.execute(SPREAD, form_id, 90 * 86400 / n, phones)
        target = await conn.fetchrow(
            "SELECT id, instance_id, current_version_id FROM submissions WHERE form_id = $1 "
            "ORDER BY created_at DESC, id DESC OFFSET 10 LIMIT 1",
            form_id,
        )
        edited = await conn.fetchval(EDIT, target["current_version_id"])
        await conn.execute(SET_CURRENT, target["id"], edited)
        manager = await users_db.create_user(conn, "bench-manager@bench.example", None)
        await users_db.assign_role(conn, manager["id"], project_id, "manager")
        for body in ("Checked with the hotline operator.", "Referred to the support centre."):
            await submissions_db.insert_comment(conn, target["id"], manager["id"], body)
        token = secrets.token_urlsafe(32)
        await users_db.create_session(
            conn, token_hash(token), manager["id"], datetime.now(UTC) + timedelta(hours=2)
        )
        scoped_tokens = {}
        for kind, scope in (("region", RowScope(regions=("TJ-SU",))),
                            ("submitter", RowScope(submitter_ids=(phones[3],)))):
            user = await users_db.create_user(conn, f"bench-{kind}@bench.example", None)
            await users_db.assign_role(conn, user["id"], project_id, "manager")
            await scopes_db.replace_scopes(conn, user["id"], project_id, scope)
            scoped_tokens[kind] = secrets.token_urlsafe(32)
            await users_db.create_session(conn, token_hash(scoped_tokens[kind]), user["id"],
                                          datetime.now(UTC) + timedelta(hours=2))
        await conn.execute("VACUUM ANALYZE submissions")
        await conn.execute("VACUUM ANALYZE screenings")
        await conn.execute("VACUUM ANALYZE submission_versions")
        deep = await conn.fetchrow(
            "SELECT id, created_at FROM submissions WHERE form_id = $1 "
            "ORDER BY created_at DESC, id DESC OFFSET 49999 LIMIT 1",
            form_id,
        )
        deep_filtered = await conn.fetchrow(
            "SELECT s.id, s.created_at FROM submissions s JOIN screenings sc "
            "ON sc.submission_id = s.id WHERE s.form_id = $1 AND s.review_state IS NULL "
            "AND sc.risk_level = 'high' ORDER BY s.created_at DESC, s.id DESC OFFSET 2999 LIMIT 1",
            form_id,
        )
        deep_region = await conn.fetchrow(
            "SELECT id, created_at FROM submissions WHERE form_id = $1 AND region = 'TJ-SU' "
            "ORDER BY created_at DESC, id DESC OFFSET 9999 LIMIT 1",
            form_id,
        )
        print(f"generated {n} risk screenings in {time.perf_counter() - started:.1f} s")
        return {
            "project_id": project_id,
            "form_id": form_id,
            "instance_id": target["instance_id"],
            "token": token,
            "deep": Cursor(deep["created_at"], deep["id"]).encode(),
            "deep_filtered": Cursor(deep_filtered["created_at"], deep_filtered["id"]).encode()
            if deep_filtered
            else None,
            "submitter": phones[3],
            "scoped_tokens": scoped_tokens,
            "deep_region": Cursor(deep_region["created_at"], deep_region["id"]).encode(),
        }
    finally:
        await conn.close()


def measure(client: httpx.Client, url: str, repeat: int, headers: dict | None = None) -> dict:
    for _ in range(3):  # warm-up: caches, plans
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:500]}")
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        size = len(response.content)
        assert response.status_code == 200, url
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
        "max": times[-1],
        "kb": size / 1024,
    }


def server_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    server = database_server()
    dsn, name = asyncio.run(create_database(server))
    try:
        # migrates and bootstraps; the bench makes its own form and session
        with serve(dsn, {"FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0"}) as served:
            process, base = served.process, served.base
            info = asyncio.run(prepare(dsn, args.n))
            pid, form = info["project_id"], "risk_screening"
            table = f"/projects/{pid}/forms/{form}/submissions"
            cases = [
                ("table, page 1", table, None),
                ("table, page 1,001 (after row 50,000)", f"{table}?after={info['deep']}", None),
                ("table, htmx partial, page 1,001", f"{table}?after={info['deep']}",
                 {"HX-Request": "true"}),
                ("table, received + high risk", f"{table}?review=received&risk=high", None),
                ("table, urgent, one submitter", f"{table}?urgent=yes&submitter={info['submitter']}",
                 None),
                ("table, last 7 days, approved", f"{table}?review=approved&from="
                 f"{(datetime.now(UTC) - timedelta(days=7)).date()}", None),
            ]
            if info["deep_filtered"]:
                cases.append(("table, received + high risk, after row 3,000",
                              f"{table}?review=received&risk=high&after={info['deep_filtered']}",
                              None))
            cases += [
                ("submission page (edited, 2 comments)", f"{table}/{info['instance_id']}", None),
                ("coordinator view", f"/dashboard/projects/{pid}/coordinator", None),
            ]
            for kind, token in info["scoped_tokens"].items():
                who = {"region": "scoped to a region", "submitter": "scoped to a submitter"}[kind]
                cases.append((f"{who}: table, page 1", table, None, token))
                if kind == "region":
                    cases.append((f"{who}: page after its row 10,000",
                                  f"{table}?after={info['deep_region']}", None, token))
                cases += [
                    (f"{who}: received + high risk", f"{table}?review=received&risk=high",
                     None, token),
                    (f"{who}: coordinator view", f"/dashboard/projects/{pid}/coordinator", None,
                     token),
                ]
            # the first page again, last: the server's start-up work (publishing 100k screenings'
            # summaries) is over by then, so the two rows tell what it cost the first cases
            cases.append(("table, page 1 (again, at the end)", table, None))
            print(f"{args.n} submissions in the form; {args.repeat} requests each, after 3 warm-up")
            print(f"{'page':52} {'median ms':>9} {'p95 ms':>7} {'max ms':>7} {'KB':>6}  target")
            worst = 0.0
            for label, url, headers, *token in cases:
                client = httpx.Client(base_url=base, timeout=30, cookies={
                    SESSION_COOKIE: token[0] if token else info["token"]})
                r = measure(client, url, args.repeat, headers)
                worst = max(worst, r["p95"])
                verdict = "ok" if r["p95"] <= TARGET_MS else "SLOW"
                print(f"{label:52} {r['median']:>9.1f} {r['p95']:>7.1f} {r['max']:>7.1f} "
                      f"{r['kb']:>6.1f}  {verdict}")
            print(f"server RSS {server_rss_mb(process.pid):.0f} MB; worst p95 {worst:.1f} ms "
                  f"(target {TARGET_MS} ms)")
    finally:
        asyncio.run(drop_database(server, name))


if __name__ == "__main__":
    main()

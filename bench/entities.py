"""What entity creation adds to ingesting a support-centre intake.

The bundled `support_center_intake` (which creates a `cases` entity in the same transaction as
the submission) against the same form with its `entities` sheet removed (form_id
`support_center_intake_plain`), both posted over OpenRosa by one app user, alternating runs of
the two forms so that machine noise hits both alike. Prints submissions/s and p50/p99 for each
and the added cost of the entity (target: at most 20%).

    python bench/entities.py [-n 1500] [--concurrency 1 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database, serve  # noqa: E402
from bench.ingest import multipart_request, post_all  # noqa: E402
from forms.compile import compile_xlsform  # noqa: E402
from forms.schema import parse_xform  # noqa: E402
from tests.instances import instance_xml  # noqa: E402

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INTAKE = ROOT / "forms" / "library" / "support_center_intake.xlsx"


def plain_intake() -> bytes:
    """The intake without its entities sheet (and save_to column), under another form_id."""
    wb = load_workbook(INTAKE)
    del wb["entities"]
    survey = wb["survey"]
    survey_header = [c.value for c in survey[1]]
    survey.delete_cols(survey_header.index("save_to") + 1)
    settings = wb["settings"]
    header = [c.value for c in settings[1]]
    settings.cell(row=2, column=header.index("form_id") + 1, value="support_center_intake_plain")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def random_intake(rng: random.Random) -> dict:
    answers = {
        "start": "2026-05-04T10:00:00.000+05:00", "end": "2026-05-04T10:20:00.000+05:00",
        "today": "2026-05-04", "deviceid": "collect:bench",
        "center": rng.choice(["dushanbe", "khujand"]),
        "intake_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "referral_source": rng.choice(["self", "hotline", "police", "ngo"]),
        "client_sex": rng.choice(["female", "male"]), "client_age": str(rng.randint(12, 60)),
        "region": rng.choice(["TJ-DU", "TJ-SU", "TJ-KT"]),
        "case_type": "presumed_victim", "exploitation_forms": "forced_labour",
        "exploitation_country": "russia", "consent_services": "yes",
        "services": "legal shelter", "shelter_days": "3",
    }
    answers["case_suffix"] = uuid.uuid4().hex[:6].upper()
    answers["case_code"] = f"DU-2026-{answers['case_suffix']}"
    answers["age_band"] = "18_24"
    answers["stage"] = "in_shelter"
    answers["status"] = "open"
    return answers


def with_entity(xml: bytes, label: str) -> bytes:
    block = (f'<entity dataset="cases" create="1" id="{uuid.uuid4()}">'
             f"<label>{label}</label></entity>").encode()
    return xml.replace(b"<meta>", b"<meta>" + block, 1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1500, help="submissions per form and run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per form")
    args = parser.parse_args()

    async with fresh_database() as dsn:
        with serve(dsn) as server:
            await run(args, dsn, server)


async def run(args: argparse.Namespace, dsn: str, server) -> None:
    base, port = server.base, server.port
    auth = server.bearer()
    pid = httpx.get(f"{base}/v1/projects", headers=auth).json()[0]["id"]
    uploaded = httpx.post(f"{base}/v1/projects/{pid}/forms?publish=true",
                          content=plain_intake(), headers={**auth, "Content-Type": XLSX},
                          timeout=120)
    uploaded.raise_for_status()
    app_user = httpx.post(f"{base}/v1/projects/{pid}/app-users", json={"displayName": "bench"},
                          headers=auth).json()
    for form_id in ("support_center_intake", "support_center_intake_plain"):
        httpx.post(f"{base}/v1/projects/{pid}/forms/{form_id}/assignments/app-user/"
                   f"{app_user['id']}", headers=auth).raise_for_status()
    path = f"/v1/key/{app_user['token']}/projects/{pid}/submission"
    with_entities = parse_xform(compile_xlsform(INTAKE.read_bytes(), validate=False).xform)
    plain = parse_xform(compile_xlsform(plain_intake(), validate=False).xform)
    rng = random.Random(13)
    print(f"support_center_intake {with_entities.version}: {args.n} submissions per form "
          f"and run, {args.rounds} alternating runs; server: 1 process; "
          f"{os.cpu_count()} cores")

    def requests_for(schema, entity: bool) -> list[bytes]:
        out = []
        for _ in range(args.n):
            answers = random_intake(rng)
            xml = instance_xml(schema, answers)
            if entity:
                xml = with_entity(xml, answers["case_code"])
            out.append(multipart_request(f"127.0.0.1:{port}", path, xml))
        return out

    for concurrency in args.concurrency:
        rates: dict[str, list[float]] = {"plain": [], "entity": []}
        lat: dict[str, list[float]] = {"plain": [], "entity": []}
        await post_all(port, requests_for(plain, False)[:50], concurrency)
        await post_all(port, requests_for(with_entities, True)[:50], concurrency)
        for _ in range(args.rounds):
            for kind, schema in (("plain", plain), ("entity", with_entities)):
                requests = requests_for(schema, kind == "entity")
                elapsed, latencies = await post_all(port, requests, concurrency)
                rates[kind].append(len(requests) / elapsed)
                lat[kind] += latencies
        for kind in ("plain", "entity"):
            ordered = sorted(lat[kind])
            print(f"{'with a case entity' if kind == 'entity' else 'no entities sheet':20} "
                  f"concurrency {concurrency:2}: {statistics.median(rates[kind]):7.0f}/s   "
                  f"p50 {statistics.median(ordered) * 1000:6.1f} ms   "
                  f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:6.1f} ms")
        added = statistics.median(rates["plain"]) / statistics.median(rates["entity"]) - 1
        print(f"entity creation adds {added * 100:+.1f}% per intake at concurrency "
              f"{concurrency} (target <= +20%)")
    conn = await asyncpg.connect(dsn)
    made = await conn.fetchval("SELECT count(*) FROM entities")
    errors = await conn.fetchval("SELECT count(*) FROM audits WHERE action = 'entity.error'")
    await conn.close()
    print(f"entities created: {made}; entity errors: {errors}")


if __name__ == "__main__":
    asyncio.run(main())

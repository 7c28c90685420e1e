"""Ingest benchmark: N realistic risk screenings posted over OpenRosa at concurrency 1, 8, 32.

Prints submissions/s with p50 and p99 latency, and beside it the machine's durable commit rate
for the same rows (a single-statement INSERT of the same XML + JSON per commit, at the same
concurrencies), and the CPU each submission cost the server, PostgreSQL and this client (their
processes' user + system time over the run, divided by the submissions). Everything runs on
this machine: the server (`fieldsurvey serve`, one process unless FIELDSURVEY_WORKERS),
the embedded PostgreSQL (or DATABASE_URL's server), and a small raw-HTTP client that costs far
less CPU than the server it measures.

    python bench/ingest.py [-n 3000] [--concurrency 1 8 32] [--against DIR [--rounds R]]

--against DIR serves DIR's code (e.g. a worktree of main) and then this checkout's, each on a
fresh database, R times in turn, and prints both: a comparison made back to back, under the
same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fresh_database, serve  # noqa: E402
from forms.compile import compile_xlsform  # noqa: E402
from forms.schema import parse_xform  # noqa: E402
from tests.instances import instance_xml  # noqa: E402
from tests.risk_spec import MODULE_ITEMS as MODULE  # noqa: E402
from tests.risk_spec import PART_A_ITEMS as PART_A  # noqa: E402

YNR = ("yes", "no", "refused")
REGIONS = {"TJ-DU": ["TJ-DU-SINO", "TJ-DU-FIRDAVSI"], "TJ-SU": ["TJ-SU-KHUJAND", "TJ-SU-ISFARA"],
           "TJ-KT": ["TJ-KT-BOKHTAR"], "TJ-GB": ["TJ-GB-KHOROG"], "TJ-RA": ["TJ-RA-VAHDAT"]}


def random_answers(rng: random.Random) -> dict:
    region = rng.choice(list(REGIONS))
    answers = {
        "start": "2026-05-04T10:00:00.000+05:00", "end": "2026-05-04T10:20:00.000+05:00",
        "today": "2026-05-04", "deviceid": "collect:bench", "consent": "yes",
        "interview_date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "region": region, "district": rng.choice(REGIONS[region]),
        "site_type": rng.choice(["community", "school", "departure_point"]),
        "sex": rng.choice(["female", "male"]), "age": str(rng.randint(12, 60)),
        "education": rng.choice(["none", "primary", "lower_secondary", "higher"]),
    }
    for name in PART_A:
        answers[name] = rng.choice(YNR)
    answers["worked_away"] = rng.choice(("yes", "no"))
    if answers["worked_away"] == "yes":
        for name in MODULE:
            answers[name] = rng.choice(("yes", "no", "no", "no"))
        answers["situation_ongoing"] = rng.choice(("yes", "no"))
        answers["exploitation_type"] = ["domestic", "agricultural"]
    return answers


def multipart_request(host: str, path: str, xml: bytes) -> bytes:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; "
        f"filename=\"submission.xml\"\r\nContent-Type: text/xml\r\n\r\n"
    ).encode() + xml + f"\r\n--{boundary}--\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-OpenRosa-Version: 1.0\r\n"
        f"User-Agent: org.odk.collect.android/bench\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def post_all(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    failures: list[int] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                request = queue.pop()
                start = time.perf_counter()
                writer.write(request)
                await writer.drain()
                status = await read_response(reader)
                latencies.append(time.perf_counter() - start)
                if status != 201:
                    failures.append(status)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} submissions failed, e.g. HTTP {failures[0]}")
    return elapsed, latencies


async def commit_baseline(dsn: str, rows: list[tuple[bytes, str]], concurrency: int):
    """Durable single-row commits of the same XML + JSON, measured like the HTTP runs."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, instance_id text UNIQUE,"
        " xml bytea, answers jsonb)"
    )
    queue = list(rows)
    latencies: list[float] = []

    async def worker() -> None:
        async with pool.acquire() as conn:
            while queue:
                xml, answers = queue.pop()
                start = time.perf_counter()
                await conn.execute(
                    "INSERT INTO bench_commit (instance_id, xml, answers) VALUES ($1, $2, $3::jsonb)",
                    uuid.uuid4().hex, xml, answers,
                )
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await pool.execute("DROP TABLE bench_commit")
    await pool.close()
    return elapsed, latencies


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children: the live ones,
    and those that ended (counted in their parent once it reaped them: backends that quit)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def postmaster_pid(dsn: str) -> int | None:
    """The postmaster of the benchmark's database server when it runs on this machine (its
    backends are its children), found through the data directory it reports."""
    async def data_directory() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()

    try:
        pid_file = Path(asyncio.run(data_directory())) / "postmaster.pid"
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, asyncpg.PostgresError):
        return None


async def settle(pid: int, *, idle_share: float = 0.05, longest: float = 90) -> None:
    """Wait (at most `longest` seconds) until the process tree uses under `idle_share` of a
    core over a second."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = tree_cpu(pid)
        await asyncio.sleep(1)
        if tree_cpu(pid) - before < idle_share:
            return


class CpuMeter:
    """CPU per submission of the server (its process tree), PostgreSQL (the postmaster's
    tree: backends, WAL writer, checkpointer) and this client, over one timed run."""

    def __init__(self, server_pid: int, pg_pid: int | None):
        self.server_pid, self.pg_pid = server_pid, pg_pid

    def snapshot(self) -> tuple[float, float, float]:
        pg = tree_cpu(self.pg_pid) if self.pg_pid else float("nan")
        return tree_cpu(self.server_pid), pg, time.process_time()

    def report(self, before, after, n: int) -> str:
        server, pg, client = (1000 * (b - a) / n for a, b in zip(before, after, strict=True))
        return (f"{'  CPU per submission':34} server {server:5.2f} ms   PostgreSQL {pg:5.2f} ms"
                f"   client {client:5.2f} ms   total {server + pg + client:5.2f} ms")


def summary(label: str, n: int, elapsed: float, latencies: list[float]) -> str:
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return f"{label:34} {n / elapsed:9.0f}/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3000, help="submissions per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--profile", help="run the server under py-spy and write this SVG")
    parser.add_argument("--against", type=Path, help="another checkout, served first")
    parser.add_argument("--rounds", type=int, default=1, help="with --against: turns each")
    args = parser.parse_args()

    roots = [ROOT]
    if args.against:
        roots = [args.against.resolve(), ROOT] * args.rounds
    for root in roots:
        if args.against:
            print(f"--- served from {root}")
        async with fresh_database() as dsn:
            wrapper = ["py-spy", "record", "--rate", "500", "--format", "raw", "-o",
                       args.profile, "--"] if args.profile else None
            with serve(dsn, wrapper=wrapper, root=root) as server:
                await run(args, dsn, server)


async def run(args: argparse.Namespace, dsn: str, server) -> None:
    base, port = server.base, server.port
    meter = CpuMeter(server.process.pid, await asyncio.to_thread(postmaster_pid, dsn))
    auth = server.bearer()
    pid = httpx.get(f"{base}/v1/projects", headers=auth).json()[0]["id"]
    app_user = httpx.post(f"{base}/v1/projects/{pid}/app-users", json={"displayName": "bench"},
                          headers=auth).json()
    assigned = httpx.post(
        f"{base}/v1/projects/{pid}/forms/risk_screening/assignments/app-user/{app_user['id']}",
        headers=auth)
    if assigned.status_code != 200:
        raise RuntimeError(f"could not assign the app user: {assigned.text}")
    path = f"/v1/key/{app_user['token']}/projects/{pid}/submission"

    xform = compile_xlsform((ROOT / "forms/library/risk_screening.xlsx").read_bytes(), validate=False)
    schema = parse_xform(xform.xform)
    rng = random.Random(7)
    workers = os.environ.get("FIELDSURVEY_WORKERS", "1")
    print(f"risk_screening {schema.version}: {args.n} submissions per run; server: {workers} process(es); "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    results = []
    for concurrency in args.concurrency:
        payloads = [instance_xml(schema, random_answers(rng)) for _ in range(args.n)]
        requests = [multipart_request(f"127.0.0.1:{port}", path, xml) for xml in payloads]
        # warm up (form cache, connections), then wait for the server to be idle: what it
        # started in the background (ODK Validate's JVM and its warm-up) is not ingest's CPU
        await post_all(port, requests[:50], min(concurrency, 8))
        await settle(server.process.pid)
        before = meter.snapshot()
        elapsed, latencies = await post_all(port, requests[50:], concurrency)
        after = meter.snapshot()
        results.append(summary(f"OpenRosa ingest, concurrency {concurrency}", args.n - 50, elapsed, latencies))
        cpu = meter.report(before, after, args.n - 50) + f"   (load average {os.getloadavg()[0]:.2f})"
        rows = [(xml, json.dumps(random_answers(rng))) for xml in payloads[50:]]
        before = meter.snapshot()
        elapsed, latencies = await commit_baseline(dsn, rows, concurrency)
        after = meter.snapshot()
        results.append(summary(f"durable commit,  concurrency {concurrency}", len(rows), elapsed, latencies))
        print(results[-2])
        print(cpu)
        print(results[-1])
        print(meter.report(before, after, len(rows)))
    conn = await asyncpg.connect(dsn)
    print(f"classified screenings stored: {await conn.fetchval('SELECT count(*) FROM screenings')}")
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())

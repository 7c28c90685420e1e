"""Ingest through the production path beside one bare server, in the same run: risk screenings
posted over OpenRosa (1) straight to one `fieldsurvey serve` over plain HTTP, (2) through Caddy
(deploy/Caddyfile itself, HTTPS with `tls internal`) to that one server, and (3) through Caddy's
load balancer to two app servers on the same database (attachments in PostgreSQL). Prints
submissions/s, p50 and p99 latency and the CPU a submission cost the app servers, Caddy and
PostgreSQL (their process trees over the run), at each concurrency. Everything runs on this
machine (docs/scaling.md quotes the figures).

    python bench/ingest_proxy.py [-n 2000] [--concurrency 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port, fresh_database, serve  # noqa: E402
from bench.ingest import (  # noqa: E402
    multipart_request,
    postmaster_pid,
    random_answers,
    read_response,
    summary,
    tree_cpu,
)
from forms.compile import compile_xlsform  # noqa: E402
from forms.schema import parse_xform  # noqa: E402
from tests.instances import instance_xml  # noqa: E402

SERVER_ENV = {"FIELDSURVEY_ATTACHMENTS": "postgres", "FIELDSURVEY_FORWARDED_ALLOW_IPS": "127.0.0.1",
              "FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS": "0"}


class Caddy:
    def __init__(self, process: subprocess.Popen, port: int, root_ca: Path):
        self.process, self.port, self.root_ca = process, port, root_ca

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_ca))


@contextmanager
def caddy(upstreams: list[int]):
    """Caddy running deploy/Caddyfile, `tls internal` for 127.0.0.1 on a free port."""
    if shutil.which("caddy") is None:
        raise SystemExit("caddy is not installed (apt-get install caddy)")
    home = Path(tempfile.mkdtemp(prefix="fieldsurvey-bench-caddy-"))
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "FIELDSURVEY_SITE": "127.0.0.1",
           "FIELDSURVEY_TLS": "internal", "FIELDSURVEY_HTTPS_PORT": str(port),
           "FIELDSURVEY_HTTP_PORT": str(free_port()), "FIELDSURVEY_CADDY_ADMIN": "off",
           "FIELDSURVEY_UPSTREAMS": " ".join(f"127.0.0.1:{p}" for p in upstreams)}
    root_ca = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    with (home / "caddy.log").open("ab") as log:
        process = subprocess.Popen(
            ["caddy", "run", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter",
             "caddyfile"], cwd=home, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if root_ca.is_file() and httpx.get(
                        f"https://127.0.0.1:{port}/health", verify=str(root_ca)).status_code == 200:
                    break
            except (httpx.TransportError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((home / "caddy.log").read_text()[-3000:])
            time.sleep(0.2)
        time.sleep(1.5)  # a health check of every upstream has passed
        yield Caddy(process, port, root_ca)
    finally:
        process.terminate()
        process.wait(15)
        shutil.rmtree(home, ignore_errors=True)


async def post_all(port: int, requests: list[bytes], concurrency: int,
                   tls: ssl.SSLContext | None) -> tuple[float, list[float]]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    failures: list[int] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1" if tls else None)
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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000, help="submissions per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()

    async with fresh_database() as dsn:
        with ExitStack() as stack:
            first = stack.enter_context(serve(dsn, SERVER_ENV))
            second = stack.enter_context(serve(dsn, SERVER_ENV))
            one_proxy = stack.enter_context(caddy([first.port]))
            two_proxy = stack.enter_context(caddy([first.port, second.port]))
            await run(args, dsn, first, second, one_proxy, two_proxy)


async def run(args, dsn, first, second, one_proxy: Caddy, two_proxy: Caddy) -> None:
    auth = first.bearer()
    base = first.base
    pid = httpx.get(f"{base}/v1/projects", headers=auth).json()[0]["id"]
    app_user = httpx.post(f"{base}/v1/projects/{pid}/app-users", json={"displayName": "bench"},
                          headers=auth).json()
    assigned = httpx.post(
        f"{base}/v1/projects/{pid}/forms/risk_screening/assignments/app-user/{app_user['id']}",
        headers=auth)
    if assigned.status_code != 200:
        raise RuntimeError(f"could not assign the app user: {assigned.text}")
    path = f"/v1/key/{app_user['token']}/projects/{pid}/submission"
    xform = compile_xlsform((ROOT / "forms/library/risk_screening.xlsx").read_bytes(),
                            validate=False)
    schema = parse_xform(xform.xform)
    rng = random.Random(11)
    pg = await asyncio.to_thread(postmaster_pid, dsn)
    print(f"risk_screening {schema.version}: {args.n} submissions per run; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    setups = [
        ("one server, no proxy (HTTP)", first.port, None, [first.process.pid]),
        ("Caddy (HTTPS) -> one server", one_proxy.port, one_proxy.tls(),
         [first.process.pid, one_proxy.process.pid]),
        ("Caddy (HTTPS) -> two servers", two_proxy.port, two_proxy.tls(),
         [first.process.pid, second.process.pid, two_proxy.process.pid]),
    ]
    for concurrency in args.concurrency:
        for label, port, tls, pids in setups:
            requests = [multipart_request("127.0.0.1", path, instance_xml(schema, random_answers(rng)))
                        for _ in range(args.n + 50)]
            await post_all(port, requests[:50], min(concurrency, 8), tls)  # warm up
            before = [tree_cpu(p) for p in pids], tree_cpu(pg) if pg else float("nan")
            elapsed, latencies = await post_all(port, requests[50:], concurrency, tls)
            after = [tree_cpu(p) for p in pids], tree_cpu(pg) if pg else float("nan")
            apps = sum(b - a for a, b in zip(before[0], after[0], strict=True))
            print(summary(f"{label}, c={concurrency}", args.n, elapsed, latencies)
                  + f"   CPU/submission: servers+Caddy {1000 * apps / args.n:4.2f} ms, "
                  f"PostgreSQL {1000 * (after[1] - before[1]) / args.n:4.2f} ms"
                  f"   (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    asyncio.run(main())

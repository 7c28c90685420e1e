"""What the benchmarks share: a fresh database on DATABASE_URL's server (or the embedded
PostgreSQL under .data/bench), dropped afterwards, and `fieldsurvey serve` on a free port,
waited for until /health answers and stopped afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_EMAIL = "bench@example.org"
BENCH_PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_server() -> str:
    """DATABASE_URL, or the embedded PostgreSQL of the benchmarks (started if needed)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from db.embedded import start_embedded_postgres

    return start_embedded_postgres(ROOT / ".data" / "bench")


async def create_database(server_url: str) -> tuple[str, str]:
    """A new, empty database on the server: (its DSN, its name)."""
    name = f"fieldsurvey_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), name


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@asynccontextmanager
async def fresh_database(server_url: str | None = None) -> AsyncIterator[str]:
    """A new, empty database for one run (its DSN); dropped at the end, whatever happened."""
    server_url = server_url or database_server()
    dsn, name = await create_database(server_url)
    try:
        yield dsn
    finally:
        await drop_database(server_url, name)


class Served:
    def __init__(self, process: subprocess.Popen, port: int, data_dir: Path):
        self.process, self.port, self.data_dir = process, port, data_dir
        self.base = f"http://127.0.0.1:{port}"

    def bearer(self) -> dict[str, str]:
        """Authorization headers of the bench administrator (FIELDSURVEY_ADMIN_*)."""
        token = httpx.post(f"{self.base}/v1/sessions",
                           json={"email": BENCH_EMAIL, "password": BENCH_PASSWORD}).json()["token"]
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def serve(dsn: str, env: dict[str, str] | None = None, *, wrapper: list[str] | None = None,
          startup_seconds: float = 120, root: Path = ROOT) -> Iterator[Served]:
    """`fieldsurvey serve` (one process) on `dsn`, migrated and bootstrapped; `wrapper` runs it
    under another command (py-spy). Interrupted with SIGINT when wrapped (py-spy writes its
    profile then), else terminated. `root`: the checkout whose code is served (another one's,
    e.g. a worktree of main, to compare two versions in one run)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="fieldsurvey-bench-"))
    full_env = {**os.environ, "DATABASE_URL": dsn, "HOST": "127.0.0.1", "PORT": str(port),
                "FIELDSURVEY_DATA_DIR": str(data_dir), "FIELDSURVEY_ADMIN_EMAIL": BENCH_EMAIL,
                "FIELDSURVEY_ADMIN_PASSWORD": BENCH_PASSWORD, **(env or {})}
    log = (data_dir / "server.log").open("ab")
    command = [*(wrapper or []), sys.executable, "-m", "api.cli", "serve"]
    process = subprocess.Popen(command, cwd=root, env=full_env, stdout=log, stderr=log)
    served = Served(process, port, data_dir)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise SystemExit((data_dir / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{served.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start in {startup_seconds:.0f} s")
            time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT if wrapper else signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()

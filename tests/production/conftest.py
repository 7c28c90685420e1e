"""The production path as an NGO runs it (docs/deploying.md), as reusable parts:

- `debian_postgres` (session): Debian's PostgreSQL (`/usr/lib/postgresql/*/bin`) in a
  throwaway cluster of its own, started and stopped here (never the machine's service);
  `.create_database()` makes a role with a password and its database, as deploy/install.sh
  does, and returns the DATABASE_URL.
- `fieldsurvey_wheel` (session): the wheel `python -m build` makes of this checkout.
- `installed` (session): deploy/install.sh run twice with `--root` (files under a folder, the
  database and role in `debian_postgres`); `wheel_venv` (session): the venv it made, outside
  the checkout, with the wheel installed.
- `start_server(database_url, port=None, **env)` (module): `fieldsurvey serve` from that venv, run from a
  folder outside the checkout, trusting X-Forwarded-* from 127.0.0.1 only (Caddy's address);
  returns a `ProductionServer` (`.url`, `.stop()`, `.kill()`, `.log()`).
- `start_caddy(upstreams, **env)` (module): Caddy running deploy/Caddyfile itself, with
  `tls internal` for 127.0.0.1 on free ports; returns a `Caddy` (`.https_url`, `.http_url`,
  `.root_ca`, `.client()`: an httpx client that trusts Caddy's root and connects from
  127.0.0.2, so that the client's address differs from the proxy's; `.wait_until_serving()`
  after starting app servers behind a running Caddy).
Everything started by a factory is stopped at the end of the module.
Under CI=true a missing PostgreSQL or Caddy fails (tests/conftest.py `require`).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, require

CLIENT_ADDRESS = "127.0.0.2"  # the tests' clients connect from here; Caddy from 127.0.0.1
PROXY_ADDRESS = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(ready: Callable[[], bool], seconds: float, what: str,
                alive: Callable[[], str | None] = lambda: None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        failure = alive()
        if failure:
            raise RuntimeError(f"{what}: {failure}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready after {seconds} s")


# -- Debian's PostgreSQL -------------------------------------------------------------------

def debian_postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


class PostgresCluster:
    """A cluster of Debian's PostgreSQL in a folder of its own, on a free TCP port of 127.0.0.1
    (password logins, as in production) and a Unix socket in the folder (trust, for set-up).
    PostgreSQL refuses to run as root: as root, it runs as Debian's `postgres` user."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="fieldsurvey-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.runas = "postgres" if os.geteuid() == 0 else None
        if self.runas:
            entry = pwd.getpwnam(self.runas)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *argv: str | Path, **kwargs) -> subprocess.CompletedProcess:
        command = [str(a) for a in argv]
        if self.runas:
            command = ["runuser", "-u", self.runas, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> None:
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                  "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-w",
                  "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs SQL as the superuser over the Unix socket (what install.sh does as `postgres`)."""
        return self._run(self.bindir / "psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt",
                         "-h", self.root, "-p", str(self.port), "-U", "postgres",
                         "-d", database, "-c", sql).stdout

    def create_database(self, name: str | None = None) -> str:
        """A role and its own database (as install.sh makes them); returns its DATABASE_URL."""
        name = name or f"fieldsurvey_{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        self.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {name}")
        return f"postgresql://{name}:{password}@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def debian_postgres() -> Iterator[PostgresCluster]:
    bindir = debian_postgres_bin()
    require(bindir is not None, "Debian's PostgreSQL (apt-get install postgresql)")
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# -- the release: a wheel, installed in a fresh venv ---------------------------------------

@pytest.fixture(scope="session")
def fieldsurvey_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build --wheel` of this checkout (one build at a time: it writes build/)."""
    outdir = tmp_path_factory.mktemp("dist")
    lock_path = ROOT / ".data" / "wheel-build.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(ROOT)],
            capture_output=True, text=True,
        )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = outdir.glob("fieldsurvey-*.whl")
    return wheel


@dataclass
class Installed:
    """What deploy/install.sh --root made: `root` (its /), `runs` (the two runs' results)."""

    root: Path
    runs: list[subprocess.CompletedProcess]

    @property
    def venv(self) -> Path:
        return self.root / "opt" / "fieldsurvey" / "venv"


@pytest.fixture(scope="session")
def installed(debian_postgres: PostgresCluster, fieldsurvey_wheel: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """deploy/install.sh run twice with --root (every file under a folder of its own; no apt,
    user or systemctl), its database and role made in `debian_postgres`: first an install,
    then an upgrade of the same wheel with `--workers 3`. Its venv is a fresh one outside the
    checkout with the wheel installed (pip, from the index pip is set up with)."""
    root = tmp_path_factory.mktemp("installed") / "root"
    env = {**os.environ, "PGHOST": str(debian_postgres.root),
           "PGPORT": str(debian_postgres.port), "PGUSER": "postgres"}
    env.pop("VIRTUAL_ENV", None)
    runs = [subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--address",
                            "127.0.0.1", "--wheel", str(fieldsurvey_wheel), "--root", str(root),
                            *more], capture_output=True, text=True, env=env, timeout=900)
            for more in ([], ["--workers", "3"])]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    return Installed(root, runs)


@pytest.fixture(scope="session")
def wheel_venv(installed: Installed) -> Path:
    """The venv install.sh made (/opt/fieldsurvey/venv in its root): the built wheel and its
    dependencies, outside the checkout."""
    return installed.venv


# -- the server from the wheel ---------------------------------------------------------------

def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a service: no PYTHONPATH, no virtualenv, nothing of the checkout."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "CI", "FIELDSURVEY_VALIDATE_CACHE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


class ProductionServer:
    """`fieldsurvey serve` of the installed wheel, as deploy/fieldsurvey.service starts it."""

    def __init__(self, venv: Path, database_url: str, workdir: Path, env: dict[str, str],
                 port: int | None = None):
        self.venv = venv
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = _clean_env(
            DATABASE_URL=database_url,
            FIELDSURVEY_DATA_DIR=str(workdir / "data"),
            FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS="0",
            **env,
        )
        self.process: subprocess.Popen | None = None

    def start(self, startup_seconds: float = 120) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "fieldsurvey"), "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--forwarded-allow-ips", PROXY_ADDRESS],
                cwd=self.workdir, env=self.env, stdout=log, stderr=log,
            )

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        def alive() -> str | None:
            if self.process.poll() is not None:
                return f"exited {self.process.returncode}: {self.log()[-3000:]}"
            return None

        _wait_until(ready, startup_seconds, f"fieldsurvey serve on {self.port}", alive)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 15) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def start_server(wheel_venv: Path, tmp_path_factory: pytest.TempPathFactory):
    started: list[ProductionServer] = []

    def start(database_url: str, port: int | None = None, **env: str) -> ProductionServer:
        workdir = tmp_path_factory.mktemp("server")
        server = ProductionServer(wheel_venv, database_url, workdir, env, port)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# -- Caddy -----------------------------------------------------------------------------------

class Caddy:
    """Caddy running deploy/Caddyfile with `tls internal` for 127.0.0.1 on free ports."""

    def __init__(self, upstreams: list[str], home: Path, env: dict[str, str]):
        self.https_port, self.http_port = free_port(), free_port()
        self.https_url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        self.home = home
        self.root_ca = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        self.log_path = home / "caddy.log"
        self.env = _clean_env(
            XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
            FIELDSURVEY_SITE="127.0.0.1", FIELDSURVEY_TLS="internal",
            FIELDSURVEY_UPSTREAMS=" ".join(u.removeprefix("http://") for u in upstreams),
            FIELDSURVEY_HTTP_PORT=str(self.http_port),
            FIELDSURVEY_HTTPS_PORT=str(self.https_port),
            FIELDSURVEY_CADDY_ADMIN="off",
            **env,
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["caddy", "run", "--config", str(ROOT / "deploy" / "Caddyfile"),
                 "--adapter", "caddyfile"],
                cwd=self.home, env=self.env, stdout=log, stderr=log,
            )

        def ready() -> bool:
            if not self.root_ca.is_file():
                return False
            try:
                with self.client() as http:
                    return http.get("/health").status_code in (200, 502, 503)
            except (httpx.TransportError, OSError):
                return False

        def alive() -> str | None:
            if self.process.poll() is not None:
                return f"exited {self.process.returncode}: {self.log_path.read_text()[-3000:]}"
            return None

        _wait_until(ready, 60, "caddy", alive)

    def wait_until_serving(self, seconds: float = 30) -> None:
        """Until /health answers 200 through Caddy: its active health checks put an app server
        started after it in the pool within a second or so."""

        def serving() -> bool:
            with self.client() as http:
                return http.get("/health").status_code == 200

        _wait_until(serving, seconds, "caddy's upstreams")

    def client(self, **kwargs) -> httpx.Client:
        """An HTTPS client of this Caddy that trusts its root and connects from 127.0.0.2."""
        trust = ssl.create_default_context(cafile=str(self.root_ca))
        transport = httpx.HTTPTransport(verify=trust, local_address=CLIENT_ADDRESS)
        return httpx.Client(base_url=self.https_url, transport=transport, timeout=60, **kwargs)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def start_caddy(tmp_path_factory: pytest.TempPathFactory):
    require(shutil.which("caddy") is not None, "Caddy (apt-get install caddy)")
    started: list[Caddy] = []

    def start(upstreams: list[str], **env: str) -> Caddy:
        caddy = Caddy(upstreams, tmp_path_factory.mktemp("caddy"), env)
        started.append(caddy)
        caddy.start()
        return caddy

    yield start
    for caddy in started:
        caddy.stop()

"""Shared fixtures: a real PostgreSQL (the embedded one unless DATABASE_URL is set), a fresh
database per test session, the app in-process, and a live server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.settings import Settings

# Property tests check properties, not speed (speed lives in bench/): no per-example deadline,
# so that they hold on a loaded machine too.
hypothesis_settings.register_profile("fieldsurvey", deadline=None)
hypothesis_settings.load_profile("fieldsurvey")

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """A test that needs a tool (Java, Node, Chromium, Playwright): skipped on a developer's
    machine without it, a failure under CI=true, so CI cannot go green without it."""
    if available:
        return
    if CI:
        pytest.fail(f"{what} (CI=true: a missing tool is a failure, not a skip)", pytrace=False)
    pytest.skip(what)


# The modules that take a minute or more, started first: when `make test` runs the modules in
# two processes, none of them is then left running alone at the end while the other waits.
SLOW_MODULES = (
    "tests/browser/test_pages_roles.py",
    "tests/browser/test_webforms.py",
    "tests/browser/test_coordinator.py",
    "tests/integration/test_exports_scale.py",
    "tests/clients/test_rubric_parity.py",
    "tests/integration/test_hostile_input.py",
    "tests/integration/test_disclosure_attacks.py",
    "tests/integration/test_schema_fuzz.py",
    "tests/integration/test_crash.py",
    "tests/production/test_production.py",
    "tests/production/test_two_servers.py",
    "tests/integration/test_backup.py",
    "tests/integration/test_webhooks.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {module: n for n, module in enumerate(SLOW_MODULES)}
    # a stable sort: every module's tests keep their order, the other modules theirs
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(SLOW_MODULES)))


ADMIN_EMAIL = "admin@test.example"
ADMIN_PASSWORD = "admin-password-for-tests"


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@pytest.fixture(scope="session")
def server_url() -> str:
    """A PostgreSQL server: DATABASE_URL, or the embedded one in FIELDSURVEY_DATA_DIR/.data."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from db.embedded import start_embedded_postgres

    data_dir = Path(os.environ.get("FIELDSURVEY_TEST_DATA_DIR", ROOT / ".data" / "test"))
    # `make test` runs the modules in parallel (pytest-xdist): each worker process has its own
    # embedded server, so that one worker's bursts of connections never reach another's limit
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        data_dir = data_dir.with_name(f"{data_dir.name}-{worker}")
    return start_embedded_postgres(data_dir)


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database for this test session, dropped at the end."""
    name = f"fieldsurvey_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(server_url, name)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fieldsurvey-data")


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        # every in-process request comes from one address ("testclient") and several tests try
        # the same wrong logins: they must not throttle each other
        # (tests/integration/test_login_throttle.py sets its own limits)
        login_address_limit=100_000,
        login_account_limit=100_000,
        login_account_total_limit=100_000,
        # no publisher on a timer: a test makes the publications it reads when its data is in
        # (tests/summaries_seed.py `publish_now`), so that none freezes half of a test's data
        publication_interval_seconds=0,
        # nor when a request finds one missing: test data is always fresh, so it never settles
        # (tests/integration/test_summaries_api.py makes apps that publish on request)
        publication_settle_seconds=10**9,
        # no trash purge or retention run on a timer: tests run them at the moment they choose
        trash_purge_interval_seconds=0,
        # no outbox worker in the shared app: the outbox's tests run their own
        # (tests/integration/test_outbox.py), so that one test's settings (SMTP, webhooks)
        # are the only worker's
        events_interval_seconds=0,
    )


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    async with AsyncTestClient(app=app, timeout=60) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def pool(client: AsyncTestClient, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The tests' own pool (the app's runs on the test client's event loop, not ours)."""
    from db.pool import open_pool

    # the tests' own bulk set-up (100k rows in one statement) may outlast the app's 60 s
    # statement bound on a loaded machine; the app's pool keeps its bound
    test_pool = await open_pool(database_url, min_size=1, max_size=5, command_timeout=None)
    yield test_pool
    await test_pool.close()


async def login(client, email: str, password: str) -> dict[str, str]:
    response = await client.post("/v1/sessions", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="session")
async def admin_headers(client: AsyncTestClient) -> dict[str, str]:
    return await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
async def default_project_id(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT id FROM projects WHERE name = 'Default'")


class UserFactory:
    """Creates users with a role in a project through the REST API, and logs them in."""

    def __init__(self, client: AsyncTestClient, admin_headers: dict[str, str]):
        self.client = client
        self.admin_headers = admin_headers

    async def __call__(self, role: str | None, project_id: int | None) -> dict:
        email = f"{role or 'nobody'}-{uuid.uuid4().hex[:8]}@test.example"
        password = f"pw-{uuid.uuid4().hex}"
        created = await self.client.post(
            "/v1/users",
            json={"email": email, "password": password, "isAdmin": role == "admin"},
            headers=self.admin_headers,
        )
        assert created.status_code == 200, created.text
        user_id = created.json()["id"]
        if role not in (None, "admin"):
            assigned = await self.client.post(
                f"/v1/projects/{project_id}/assignments/{role}/{user_id}",
                headers=self.admin_headers,
            )
            assert assigned.status_code == 200, assigned.text
        headers = await login(self.client, email, password)
        return {"id": user_id, "email": email, "password": password, "headers": headers}


@pytest.fixture(scope="session")
def make_user(client: AsyncTestClient, admin_headers: dict[str, str]) -> UserFactory:
    return UserFactory(client, admin_headers)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """`fieldsurvey serve` in a subprocess, against the test database."""

    def __init__(
        self,
        database_url: str | None,
        data_dir: Path,
        env: dict[str, str] | None = None,
        startup_seconds: float = 60,
    ):
        """database_url None: the server starts its own embedded PostgreSQL in data_dir."""
        self.database_url = database_url
        self.startup_seconds = startup_seconds
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    def start(self) -> None:
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        env.update(
            FIELDSURVEY_DATA_DIR=str(self.data_dir),
            FIELDSURVEY_ADMIN_EMAIL=ADMIN_EMAIL,
            FIELDSURVEY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            FIELDSURVEY_LOGIN_ADDRESS_LIMIT="100000",
            FIELDSURVEY_PUBLICATION_INTERVAL_SECONDS="0",  # as the in-process app's settings
            FIELDSURVEY_PUBLICATION_SETTLE_SECONDS=str(10**9),
            FIELDSURVEY_EVENTS_INTERVAL_SECONDS="0",  # as the in-process app's settings
            HOST="127.0.0.1",
            PORT=str(self.port),
        )
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(f"{self.base_url}/v1/projects", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start in {self.startup_seconds} s")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def live_server(database_url: str, data_dir: Path, client: AsyncTestClient) -> Iterator[LiveServer]:
    # `client` first: the in-process app has migrated and bootstrapped the database.
    server = LiveServer(database_url, data_dir)
    server.start()
    yield server
    server.stop()

"""Exports and OData pages stream from a replica (FIELDSURVEY_READ_DATABASE_URL): a hot standby
of Debian's PostgreSQL made with pg_basebackup, streaming from the primary. While the standby's
replay is paused, what is committed on the primary is stored (201) but not exported; once it
replays, it is."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.settings import Settings
from tests.production.conftest import PostgresCluster, free_port
from tests.xlsforms import XLSX, simple_form


class Standby:
    """A hot standby of `primary`, in a folder and on a port of its own."""

    def __init__(self, primary: PostgresCluster):
        self.primary = primary
        self.data = primary.root / f"standby-{uuid.uuid4().hex[:6]}"
        self.port = free_port()

    def start(self) -> None:
        p = self.primary
        p._run(p.bindir / "pg_basebackup", "-h", p.root, "-p", str(p.port), "-U", "postgres",
               "-D", self.data, "-R", "-X", "stream", "-c", "fast")
        options = (f"-p {self.port} -k {p.root} -c listen_addresses=127.0.0.1 "
                   "-c hot_standby=on -c fsync=off -c max_connections=200")
        p._run(p.bindir / "pg_ctl", "-D", self.data, "-l", self.data / "log", "-w",
               "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.primary._run(self.primary.bindir / "pg_ctl", "-D", self.data, "-m", "immediate",
                              "-w", "stop")

    def superuser(self, sql: str) -> str:
        p = self.primary
        return p._run(p.bindir / "psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-h", p.root,
                      "-p", str(self.port), "-U", "postgres", "-c", sql).stdout

    def url_of(self, primary_url: str) -> str:
        parts = urlsplit(primary_url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{self.port}"))


@pytest.fixture(scope="module")
def replicated(debian_postgres: PostgresCluster) -> Iterator[tuple[str, Standby]]:
    database_url = debian_postgres.create_database()  # before the copy: the standby has it
    standby = Standby(debian_postgres)
    standby.start()
    try:
        yield database_url, standby
    finally:
        standby.stop()


@pytest.fixture(scope="module")
async def app_on_replica(replicated, tmp_path_factory) -> AsyncIterator[AsyncTestClient]:
    database_url, standby = replicated
    settings = Settings(
        database_url=database_url, read_database_url=standby.url_of(database_url),
        data_dir=Path(tmp_path_factory.mktemp("replica")), admin_email="admin@replica.example",
        admin_password="replica-admin-password", publish_bundled_forms=False,
        publication_interval_seconds=0)
    async with AsyncTestClient(app=create_app(settings), timeout=60) as client:
        yield client


async def replayed(primary_url: str, standby_url: str, seconds: float = 30) -> None:
    """Waits until the standby has replayed everything the primary has committed so far."""
    primary = await asyncpg.connect(primary_url)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await primary.close()
    standby = await asyncpg.connect(standby_url)
    try:
        deadline = time.monotonic() + seconds
        while await standby.fetchval("SELECT pg_last_wal_replay_lsn() < $1::pg_lsn", target):
            assert time.monotonic() < deadline, "the standby did not catch up"
            await asyncio.sleep(0.1)
    finally:
        await standby.close()


async def test_exports_and_odata_read_the_replica(app_on_replica, replicated) -> None:
    client = app_on_replica
    database_url, standby = replicated
    standby_url = standby.url_of(database_url)
    token = (await client.post("/v1/sessions", json={
        "email": "admin@replica.example", "password": "replica-admin-password"})).json()["token"]
    admin = {"Authorization": f"Bearer {token}"}
    pid = (await client.post("/v1/projects", json={"name": "Replica"}, headers=admin)).json()["id"]
    uploaded = await client.post(f"/v1/projects/{pid}/forms?publish=true",
                                 content=simple_form("replicated", "1"),
                                 headers={**admin, "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    form = f"/v1/projects/{pid}/forms/replicated"

    async def submit() -> str:
        instance = f"uuid:{uuid.uuid4()}"
        xml = (f'<data id="replicated" version="1"><age>3</age><ok>yes</ok><comment>x</comment>'
               f"<meta><instanceID>{instance}</instanceID></meta></data>")
        sent = await client.post(f"{form}/submissions", content=xml,
                                 headers={**admin, "Content-Type": "application/xml"})
        assert sent.status_code == 200, sent.text
        return instance

    async def exported() -> tuple[int, int]:
        csv = await client.get(f"{form}/submissions.csv.zip?attachments=false", headers=admin)
        assert csv.status_code == 200, csv.text
        rows = zipfile.ZipFile(io.BytesIO(csv.content)).read("replicated.csv").decode()
        odata = await client.get(f"{form}.svc/Submissions", headers=admin)
        assert odata.status_code == 200, odata.text
        return len(rows.strip().splitlines()) - 1, len(odata.json()["value"])

    await submit()
    await replayed(database_url, standby_url)
    assert await exported() == (1, 1)
    standby.superuser("SELECT pg_wal_replay_pause()")
    try:
        await submit()  # committed on the primary, not yet on the replica
        assert await exported() == (1, 1)
    finally:
        standby.superuser("SELECT pg_wal_replay_resume()")
    await replayed(database_url, standby_url)
    assert await exported() == (2, 2)


def test_settings_name_the_replica() -> None:
    settings = Settings.from_env({"FIELDSURVEY_READ_DATABASE_URL": "postgresql://r/db"})
    assert settings.read_database_url == "postgresql://r/db"
    assert replace(settings, read_database_url=None).read_database_url is None

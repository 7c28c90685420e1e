"""The attachment stores (api/storage): the local folder, PostgreSQL (attachment_blobs) and
S3 (against moto's standalone server), each keeping the same promises; a server configured
with a shared store keeps a submission's files there, where every app server reads them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.storage import blob_key, open_store
from tests.conftest import ROOT
from tests.integration.test_openrosa import COLLECT_HEADERS, photo_form, submission_xml
from tests.s3_server import moto_server, new_bucket
from tests.xlsforms import XLSX

STORES = ("local", "postgres", "s3")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


def where(kind: str, s3_endpoint: str) -> str:
    if kind == "s3":
        return f"s3://{new_bucket(s3_endpoint)}/files?endpoint={s3_endpoint}&region=us-east-1"
    return kind


@pytest.mark.parametrize("kind", STORES)
async def test_every_store_keeps_the_same_promises(kind, client, settings, database_url, s3_endpoint,
                                                   tmp_path) -> None:
    store = open_store(where(kind, s3_endpoint), replace(settings, data_dir=tmp_path), database_url)
    try:
        data, other = uuid.uuid4().bytes * 1000, b"\x00" + uuid.uuid4().bytes
        key = await store.put(data)
        assert key == blob_key(data) and await store.put(data) == key  # twice: the same key
        await store.put(other)
        assert await store.get(key) == data and await store.get(blob_key(other)) == other
        assert await store.exists(key)
        listed = [k async for k in store.keys()]
        assert {key, blob_key(other)} <= set(listed)
        if kind != "postgres":  # the test database's table holds other tests' files too
            assert sorted(listed) == sorted({key, blob_key(other)})
        await store.delete(key)
        await store.delete(key)  # absent: nothing
        assert not await store.exists(key)
        with pytest.raises(FileNotFoundError):
            await store.get(key)
        for bad in ("../../etc/passwd", key.upper(), key[:-1]):
            with pytest.raises(ValueError):
                await store.get(bad)
        if kind == "postgres":  # with the caller's transaction, the file goes as it goes
            conn = await asyncpg.connect(database_url)
            try:
                for keep in (False, True):
                    transaction = conn.transaction()
                    await transaction.start()
                    written = await store.put(uuid.uuid4().bytes, conn)
                    await (transaction.commit() if keep else transaction.rollback())
                    assert await store.exists(written) is keep
            finally:
                await conn.close()
    finally:
        await store.close()


@pytest.fixture(scope="module")
async def photo_project(client, admin_headers) -> dict:
    pid = (await client.post("/v1/projects", json={"name": f"stores-{uuid.uuid4().hex[:6]}"},
                             headers=admin_headers)).json()["id"]
    uploaded = await client.post(f"/v1/projects/{pid}/forms?ignoreWarnings=true",
                                 content=photo_form("1"),
                                 headers={**admin_headers, "Content-Type": XLSX})
    assert uploaded.status_code == 200, uploaded.text
    media = await client.post(
        f"/v1/projects/{pid}/forms/collect_photo/draft/attachments/places.csv",
        content=b"name,label\na,Place A\n", headers={**admin_headers, "Content-Type": "text/csv"})
    assert media.status_code == 200, media.text
    published = await client.post(f"/v1/projects/{pid}/forms/collect_photo/draft/publish",
                                  headers=admin_headers)
    assert published.status_code == 200, published.text
    app_user = (await client.post(f"/v1/projects/{pid}/app-users", json={"displayName": "Phone"},
                                  headers=admin_headers)).json()
    assigned = await client.post(
        f"/v1/projects/{pid}/forms/collect_photo/assignments/app-user/{app_user['id']}",
        headers=admin_headers)
    assert assigned.status_code == 200
    return {"pid": pid, "key": f"/v1/key/{app_user['token']}/projects/{pid}"}


async def send_photo(server, project: dict, photo: bytes) -> str:
    instance = f"uuid:{uuid.uuid4()}"
    sent = await server.post(
        project["key"] + "/submission", headers=COLLECT_HEADERS,
        files=[("xml_submission_file", ("s.xml", submission_xml(instance), "text/xml")),
               ("photo.jpg", ("photo.jpg", photo, "image/jpeg"))])
    assert sent.status_code == 201, sent.text
    return instance


async def read_photo(server, project: dict, instance: str, headers: dict) -> bytes | None:
    read = await server.get(f"/v1/projects/{project['pid']}/forms/collect_photo/submissions/"
                            f"{instance}/attachments/photo.jpg", headers=headers)
    return read.content if read.status_code == 200 else None


def cli(args: list[str], database_url: str, data_dir, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "DATABASE_URL": database_url,
                          "FIELDSURVEY_DATA_DIR": str(data_dir), **env})


async def test_files_move_to_another_store_while_servers_run(
    client, settings, photo_project, admin_headers, s3_endpoint, database_url
) -> None:
    """The procedure of docs/scaling.md, from the local folder to a bucket. (First of the
    module's tests that store submissions: every file the database refers to is then in the
    suite's local folder.)"""
    bucket = where("s3", s3_endpoint)
    old_photo, new_photo = (b"\xff\xd8" + uuid.uuid4().bytes * 50 for _ in range(2))
    old = await send_photo(client, photo_project, old_photo)  # a server on the folder
    # 1. a server switched to the bucket, the folder named as the previous store
    switched = replace(settings, attachments=bucket, attachments_previous="local")
    async with AsyncTestClient(app=create_app(switched), timeout=60) as moving:
        new = await send_photo(moving, photo_project, new_photo)
        # each reads what the other took: the switched one from the folder too, and it
        # wrote its own file into both
        assert await read_photo(moving, photo_project, old, admin_headers) == old_photo
        assert await read_photo(client, photo_project, new, admin_headers) == new_photo
    # 2. the files only the folder has are copied (the servers keep running)
    env = {"FIELDSURVEY_ATTACHMENTS": bucket, "FIELDSURVEY_ATTACHMENTS_PREVIOUS": "local"}
    moved = cli(["attachments", "move", "--to", bucket], database_url, settings.data_dir, **env)
    assert moved.returncode == 0, moved.stderr
    assert " files copied from local to s3://" in moved.stdout
    again = cli(["attachments", "move", "--to", bucket], database_url, settings.data_dir, **env)
    assert again.returncode == 0 and again.stdout.startswith("0 files copied"), again.stdout
    # 3. servers on the bucket alone read every file
    only_bucket = replace(settings, attachments=bucket,
                          data_dir=settings.data_dir / "bucket-only")
    async with AsyncTestClient(app=create_app(only_bucket), timeout=60) as server:
        assert await read_photo(server, photo_project, old, admin_headers) == old_photo
        assert await read_photo(server, photo_project, new, admin_headers) == new_photo
    # a file nothing refers to is swept, the others stay
    store = open_store(bucket, settings, database_url)
    try:
        orphan = await store.put(b"left by a transaction that died")
        swept = cli(["attachments", "sweep"], database_url, settings.data_dir,
                    FIELDSURVEY_ATTACHMENTS=bucket)
        assert swept.returncode == 0, swept.stderr
        assert swept.stdout.startswith("1 files nothing referred to deleted"), swept.stdout
        assert not await store.exists(orphan)
        assert await store.exists(blob_key(old_photo)) and await store.exists(blob_key(new_photo))
    finally:
        await store.close()
    # a store that is not one is refused, with the reason
    wrong = cli(["attachments", "move", "--to", "ftp://x"], database_url, settings.data_dir)
    assert wrong.returncode == 1 and "not an S3 location" in wrong.stderr


@pytest.fixture(params=["postgres", "s3"])
async def shared_store_servers(request, settings, s3_endpoint) -> AsyncIterator[list]:
    """Two app servers configured with the same shared store (their own local folders)."""
    place = where(request.param, s3_endpoint)
    servers = []
    for n in range(2):
        app = create_app(replace(settings, attachments=place,
                                 data_dir=settings.data_dir / f"{request.param}-{n}"))
        servers.append(AsyncTestClient(app=app, timeout=60))
    for server in servers:
        await server.__aenter__()
    try:
        yield servers
    finally:
        for server in servers:
            await server.__aexit__(None, None, None)


async def test_a_file_sent_to_one_server_is_read_through_the_other(
    shared_store_servers, photo_project, admin_headers, pool, database_url
) -> None:
    first, second = shared_store_servers
    instance = f"uuid:{uuid.uuid4()}"
    photo = b"\xff\xd8" + uuid.uuid4().bytes * 100
    sent = await first.post(
        photo_project["key"] + "/submission", headers=COLLECT_HEADERS,
        files=[("xml_submission_file", ("s.xml", submission_xml(instance), "text/xml")),
               ("photo.jpg", ("photo.jpg", photo, "image/jpeg"))])
    assert sent.status_code == 201, sent.text
    path = (f"/v1/projects/{photo_project['pid']}/forms/collect_photo/submissions/{instance}"
            "/attachments/photo.jpg")
    read = await second.get(path, headers=admin_headers)
    assert read.status_code == 200 and read.content == photo
    # in the shared store, and in neither server's own folder
    configured = first.app.state.settings
    store = open_store(configured.attachments, configured, database_url)
    try:
        assert await store.exists(blob_key(photo))
    finally:
        await store.close()
    for server in (first, second):
        assert not (server.app.state.settings.attachments_dir / blob_key(photo)[:2]).exists()
    in_table = await pool.fetchval("SELECT count(*) FROM attachment_blobs WHERE key = $1",
                                   blob_key(photo))
    assert in_table == (1 if configured.attachments == "postgres" else 0)

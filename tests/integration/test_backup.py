"""Backups that restore (issue 23): a backup is one encrypted file; verify reads it whole;
restore goes only into an empty database and store; every bad input (a wrong passphrase, a cut
or changed file, a backup of a newer version or of another kind of store, a full disk, a target
that is not empty) is refused with the problem named and the target left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from api.services import backup as backup_service
from api.services.backup import BackupError
from api.services.backup_file import newest_migration
from api.storage.local import LocalAttachmentStore
from db import backups as backups_db
from db import blobs as blobs_db
from tests.conftest import _with_database
from tests.household_form import FORM_ID, Household, household_xlsx
from tests.xlsforms import XLSX

PASSPHRASE = "correct horse battery staple, twice"
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
async def databases(server_url: str):
    """Makes empty databases on the test server (restore targets); drops them at the end."""
    made: list[str] = []

    async def make() -> str:
        name = f"fieldsurvey_restore_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        made.append(name)
        return _with_database(server_url, name)

    yield make
    admin = await asyncpg.connect(server_url)
    try:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def seeded(client, admin_headers, make_user):
    """A project with two submissions, each with a photo (one of 300 kB of random bytes)."""
    project = await client.post(
        "/v1/projects", json={"name": f"backup-{uuid.uuid4().hex[:6]}"}, headers=admin_headers
    )
    pid = project.json()["id"]
    uploaded = await client.post(
        f"/v1/projects/{pid}/forms?publish=true&ignoreWarnings=true",
        content=household_xlsx(), headers={**admin_headers, "Content-Type": XLSX},
    )
    assert uploaded.status_code == 200, uploaded.text
    manager = await make_user("manager", pid)
    base = f"/v1/projects/{pid}/forms/{FORM_ID}/submissions"
    photos = {}
    for photo in (os.urandom(300_000), b"\xff\xd8 a small photo"):
        record = Household(name="Zarina")
        created = await client.post(base, content=record.xml(),
                                    headers={**manager["headers"], **XML})
        assert created.status_code == 200, created.text
        sent = await client.post(f"{base}/{record.instance_id}/attachments/photo.jpg",
                                 content=photo, headers=manager["headers"])
        assert sent.status_code == 200, sent.text
        photos[record.instance_id] = photo
    return {"pid": pid, "base": base, "photos": photos}


@pytest.fixture(scope="module")
def source_store(settings, database_url) -> LocalAttachmentStore:
    from api.storage import attachment_store

    return attachment_store(settings, database_url)


@pytest.fixture(scope="module")
async def backup_file(tmp_path_factory, seeded, database_url, source_store) -> Path:
    folder = tmp_path_factory.mktemp("backups")
    summary = await backup_service.write_backup(database_url, source_store, folder, PASSPHRASE)
    assert summary.path.parent == folder and summary.path.name.endswith(".fsbackup")
    assert summary.encrypted and summary.attachments >= 2
    return summary.path


async def assert_untouched(dsn: str, store_root: Path) -> None:
    """The target is as it was: an empty database and a store with no file."""
    conn = await asyncpg.connect(dsn)
    try:
        assert await backups_db.database_is_empty(conn)
    finally:
        await conn.close()
    assert [p for p in store_root.rglob("*") if p.is_file()] == [] if store_root.exists() else True


async def refused_restore(path: Path, passphrase: str | None, databases, tmp_path: Path,
                          slug: str, *, store_root: Path | None = None) -> BackupError:
    dsn = await databases()
    root = store_root or tmp_path / "store"
    with pytest.raises(BackupError) as refused:
        await backup_service.restore_backup(path, passphrase, dsn, LocalAttachmentStore(root))
    assert refused.value.slug == slug, str(refused.value)
    await assert_untouched(dsn, root)
    return refused.value


async def test_backup_is_one_encrypted_file_that_verifies(backup_file, seeded, pool) -> None:
    data = backup_file.read_bytes()
    assert data.startswith(b"FIELDSURVEY-BACKUP/1 age\n")
    for photo in seeded["photos"].values():  # nothing of the data in clear
        assert photo[:64] not in data
    assert b"Zarina" not in data and b"server_secrets" not in data
    assert oct(backup_file.stat().st_mode & 0o777) == "0o600"
    assert not list(backup_file.parent.glob(".*partial*"))

    verified = await backup_service.verify_backup(backup_file, PASSPHRASE)
    assert verified.attachments >= 2
    assert verified.header["attachmentStore"] == "local"
    assert verified.header["migration"] == newest_migration()
    async with pool.acquire() as conn:
        referenced = await conn.fetchval(
            "SELECT count(DISTINCT blob_key) FROM submission_attachments")
        assert verified.counts["server_secrets"] == await conn.fetchval(
            "SELECT count(*) FROM server_secrets")
        newest = await backup_service.newest_backup_time(conn)
    assert verified.attachments == referenced
    assert verified.counts["submissions_all"] >= 2 and verified.counts["users"] >= 2
    assert newest is not None and newest.isoformat() == verified.header["snapshotAt"]


async def test_restore_brings_back_every_file_and_row(backup_file, seeded, databases,
                                                      tmp_path) -> None:
    dsn = await databases()
    store = LocalAttachmentStore(tmp_path / "store")
    restored = await backup_service.restore_backup(backup_file, PASSPHRASE, dsn, store)
    for photo in seeded["photos"].values():
        from api.storage import blob_key

        assert await store.get(blob_key(photo)) == photo
    conn = await asyncpg.connect(dsn)
    try:
        assert restored.counts == await backups_db.count_rows_per_table(conn)
        # the table under the view `submissions` (migration 0050), deleted ones included
        assert await conn.fetchval("SELECT count(*) FROM submissions_all") == restored.counts[
            "submissions_all"]
    finally:
        await conn.close()
    # a target that is not empty any more is refused, and stays as it is
    again = await databases()
    with pytest.raises(BackupError) as refused:
        await backup_service.restore_backup(backup_file, PASSPHRASE, again, store)
    assert refused.value.slug == "target-not-empty" and "store" in str(refused.value)
    await assert_untouched(again, tmp_path / "empty")
    with pytest.raises(BackupError) as refused:
        await backup_service.restore_backup(backup_file, PASSPHRASE, dsn,
                                            LocalAttachmentStore(tmp_path / "empty"))
    assert refused.value.slug == "target-not-empty" and "database" in str(refused.value)
    assert not (tmp_path / "empty").exists()


async def test_wrong_or_missing_passphrase(backup_file, databases, tmp_path) -> None:
    refused = await refused_restore(backup_file, "not the passphrase", databases, tmp_path,
                                    "passphrase-wrong")
    assert "passphrase" in str(refused)
    await refused_restore(backup_file, None, databases, tmp_path, "passphrase-missing")
    with pytest.raises(BackupError) as wrong:
        await backup_service.verify_backup(backup_file, "not the passphrase")
    assert wrong.value.slug == "passphrase-wrong"


@pytest.mark.parametrize("where", ["header", "attachments", "dump", "last-bytes"])
async def test_truncated_file(backup_file, databases, tmp_path, where) -> None:
    data = backup_file.read_bytes()
    cut = {"header": 100, "attachments": 200_000, "dump": len(data) - 400_000,
           "last-bytes": len(data) - 10}[where]
    damaged = tmp_path / "cut.fsbackup"
    damaged.write_bytes(data[:cut])
    slug = "passphrase-wrong" if where == "header" else "backup-damaged"
    refused = await refused_restore(damaged, PASSPHRASE, databases, tmp_path, slug)
    assert "not changed" in str(refused)
    with pytest.raises(BackupError) as verify:
        await backup_service.verify_backup(damaged, PASSPHRASE)
    assert verify.value.slug == slug


@pytest.mark.parametrize("where", ["attachments", "dump", "last-bytes"])
async def test_changed_byte(backup_file, databases, tmp_path, where) -> None:
    data = bytearray(backup_file.read_bytes())
    at = {"attachments": 150_000, "dump": len(data) - 300_000, "last-bytes": len(data) - 5}[where]
    data[at] ^= 0x01
    damaged = tmp_path / "changed.fsbackup"
    damaged.write_bytes(bytes(data))
    await refused_restore(damaged, PASSPHRASE, databases, tmp_path, "backup-damaged")
    with pytest.raises(BackupError) as verify:
        await backup_service.verify_backup(damaged, PASSPHRASE)
    assert verify.value.slug == "backup-damaged"


async def test_unencrypted_backup_is_checked_by_its_hashes(seeded, database_url, source_store,
                                                           databases, tmp_path) -> None:
    summary = await backup_service.write_backup(
        database_url, source_store, tmp_path / "plain.fsbackup", None)
    data = summary.path.read_bytes()
    assert data.startswith(b"FIELDSURVEY-BACKUP/1 plain\n") and not summary.encrypted
    big = next(p for p in seeded["photos"].values() if len(p) > 1000)
    at = data.index(big[:64]) + 1000
    changed = tmp_path / "changed.fsbackup"
    changed.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    refused = await refused_restore(changed, None, databases, tmp_path, "backup-damaged")
    assert "SHA-256" in str(refused)
    # cut inside the photo, and inside the manifest (what follows it is the tar's padding)
    for end in (at, data.rindex(b"manifest.json") + 1200):
        cut = tmp_path / "cut.fsbackup"
        cut.write_bytes(data[:end])
        await refused_restore(cut, None, databases, tmp_path, "backup-damaged")
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_bytes(b"PGDMP this is something else")
    await refused_restore(not_a_backup, None, databases, tmp_path, "backup-unreadable")


async def test_backup_of_a_newer_version_is_refused(seeded, database_url, source_store, pool,
                                                    databases, tmp_path) -> None:
    # a database a newer fieldsurvey migrated: one migration more than this one knows
    newer = newest_migration() + 1
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')",
                           newer)
        try:
            summary = await backup_service.write_backup(
                database_url, source_store, tmp_path / "newer.fsbackup", PASSPHRASE)
        finally:
            await conn.execute("DELETE FROM schema_migrations WHERE version = $1", newer)
    refused = await refused_restore(summary.path, PASSPHRASE, databases, tmp_path, "backup-newer")
    assert f"migration {newer}" in str(refused)


async def test_backup_of_another_kind_of_store_is_refused(backup_file, databases,
                                                        tmp_path) -> None:
    """Made with the local store, restored where the PostgreSQL store is configured."""
    from api.storage.postgres import PostgresAttachmentStore

    dsn = await databases()
    store = PostgresAttachmentStore(dsn)
    try:
        with pytest.raises(BackupError) as refused:
            await backup_service.restore_backup(backup_file, PASSPHRASE, dsn, store)
    finally:
        await store.close()
    assert refused.value.slug == "store-different"
    assert "'local'" in str(refused.value) and "'postgres'" in str(refused.value)
    await assert_untouched(dsn, tmp_path / "none")


async def test_full_store_disk_during_restore(backup_file, databases, tmp_path) -> None:
    """The attachment store on a real filesystem of 256 kB (tmpfs): the 300 kB photo does
    not fit; the files put before it are deleted and the database is left empty."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        from tests.conftest import require

        require(False, f"mounting a small tmpfs (root): {done.stderr.strip()}")
    try:
        refused = await refused_restore(backup_file, PASSPHRASE, databases, tmp_path,
                                        "disk-full", store_root=mount / "store")
        assert "full" in str(refused)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


async def test_keep_deletes_only_the_oldest_backups(tmp_path) -> None:
    names = [f"fieldsurvey-2026120{d}T020000Z.fsbackup" for d in range(1, 6)]
    for name in [*names, "notes.txt", "fieldsurvey-custom.fsbackup"]:
        (tmp_path / name).write_bytes(b"x")
    gone = backup_service.prune_backups(tmp_path, 2)
    assert sorted(p.name for p in gone) == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[3:], "notes.txt", "fieldsurvey-custom.fsbackup"])
    with pytest.raises(BackupError):
        backup_service.prune_backups(tmp_path, 0)


def run_cli(args: list[str], database_url: str, data_dir: Path, **env: str):
    from tests.conftest import ROOT

    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, "DATABASE_URL": database_url,
                          "FIELDSURVEY_DATA_DIR": str(data_dir), **env},
    )


async def test_cli_backup_keep_copy_verify_restore(seeded, database_url, data_dir, databases,
                                                   tmp_path) -> None:
    from tests.s3_server import moto_server, new_bucket

    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    folder = tmp_path / "nightly"
    folder.mkdir()
    refused = run_cli(["backup", "--output", str(folder)], database_url, data_dir)
    assert refused.returncode == 1 and "--no-encryption" in refused.stderr
    assert list(folder.iterdir()) == []

    with moto_server(tmp_path) as endpoint:
        bucket = new_bucket(endpoint)
        where = f"s3://{bucket}/nightly?endpoint={endpoint}"
        for _ in range(2):
            made = run_cli(["backup", "-o", str(folder), "--passphrase-file", str(secret),
                            "--keep", "1", "--copy-to", where], database_url, data_dir)
            assert made.returncode == 0, made.stderr
            assert "encrypted" in made.stdout and f"s3://{bucket}/nightly/" in made.stdout
            time.sleep(1.1)  # the next backup's name (its UTC second) differs
        assert "deleted the older backup" in made.stdout
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint)
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        (kept,) = folder.iterdir()
        assert [o["Key"] for o in listed] == [f"nightly/{kept.name}"]
        copied = s3.get_object(Bucket=bucket, Key=f"nightly/{kept.name}")["Body"].read()
        assert copied == kept.read_bytes()

    verified = run_cli(["backup", "--verify", str(kept), "--passphrase-file", str(secret)],
                       database_url, data_dir)
    assert verified.returncode == 0, verified.stderr
    assert "is a complete backup" in verified.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("another passphrase\n")
    failed = run_cli(["backup", "--verify", str(kept), "--passphrase-file", str(wrong)],
                     database_url, data_dir)
    assert failed.returncode == 1 and "passphrase-wrong" in failed.stderr

    target, target_dir = await databases(), tmp_path / "new-machine"
    restored = run_cli(["restore", str(kept), "--passphrase-file", str(secret)], target,
                       target_dir)
    assert restored.returncode == 0, restored.stderr
    assert "restored the snapshot" in restored.stdout
    photo = next(p for p in seeded["photos"].values() if len(p) > 1000)
    from api.storage import blob_key

    key = blob_key(photo)
    assert (target_dir / "attachments" / key[:2] / key).read_bytes() == photo
    again = run_cli(["restore", str(kept), "--passphrase-file", str(secret)], target, target_dir)
    assert again.returncode == 1 and "target-not-empty" in again.stderr


# --- the whole server, backed up while phones submit, restored and compared over the API ------

async def _api_state(client, headers, pid: int, ids: list[str], screening_pid: int) -> dict:
    """Everything the API shows of the seeded projects, for the submissions `ids`."""
    import hashlib

    async def get(path: str, **extra):
        response = await client.get(path, headers={**headers, **extra})
        assert response.status_code == 200, (path, response.text)
        return response

    base = f"/v1/projects/{pid}/forms/{FORM_ID}/submissions"
    state: dict = {
        "projects": (await get("/v1/projects")).json(),
        "users": (await get("/v1/users")).json(),
        "app_users": (await get(f"/v1/projects/{pid}/app-users")).json(),
        "forms": (await get(f"/v1/projects/{pid}/forms")).json(),
        "submissions": {},
    }
    for iid in ids:
        one = {"json": (await get(f"{base}/{iid}", **{"X-Extended-Metadata": "true"})).json(),
               "xml": (await get(f"{base}/{iid}.xml")).content,
               "versions": (await get(f"{base}/{iid}/versions")).json(),
               "comments": (await get(f"{base}/{iid}/comments")).json(),
               "attachments": (await get(f"{base}/{iid}/attachments")).json()}
        one["files"] = {a["name"]: hashlib.sha256(
            (await get(f"{base}/{iid}/attachments/{a['name']}")).content).hexdigest()
            for a in one["attachments"] if a["exists"]}
        state["submissions"][iid] = one
    lists = f"/v1/projects/{screening_pid}/datasets"
    state["datasets"] = (await get(lists)).json()
    entities = (await get(f"{lists}/cases/entities")).json()
    state["entities"] = {e["uuid"]: {
        "entity": (await get(f"{lists}/cases/entities/{e['uuid']}")).json(),
        "versions": (await get(f"{lists}/cases/entities/{e['uuid']}/versions")).json()}
        for e in entities}
    state["summary"] = (await get(f"/v1/projects/{screening_pid}/summaries/risk"
                                  "?by=region,risk_level")).json()
    state["reintegration"] = (await get(f"/v1/projects/{screening_pid}/summaries/reintegration"
                                        "?measure=opened&by=centre")).json()
    return state


async def test_backup_while_phones_submit_restores_an_equal_server(
        client, admin_headers, make_user, pool, settings, seeded, database_url, source_store,
        databases, tmp_path) -> None:
    import asyncio
    import random
    from datetime import UTC, datetime

    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from api.settings import Settings
    from tests.cases_seed import seed_case
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
    from tests.summaries_seed import publish_now, random_answers, screening_project, submission_xml
    from tests.summaries_seed import submit as submit_screening

    pid, base = seeded["pid"], seeded["base"]
    manager = await make_user("manager", pid)
    mh = manager["headers"]
    # an edit (the photo carries over), a review with a note, a comment
    first = next(iter(seeded["photos"]))
    edit = Household(name="Zarina", age=41, deprecated_id=first)
    edited = await client.put(f"{base}/{first}", content=edit.xml(), headers={**mh, **XML})
    assert edited.status_code == 200, edited.text
    reviewed = await client.patch(f"{base}/{first}", json={"reviewState": "approved"},
                                  headers={**mh, "X-Action-Notes": "checked%20by%20phone"})
    assert reviewed.status_code == 200, reviewed.text
    commented = await client.post(f"{base}/{first}/comments", json={"body": "call back in May"},
                                  headers=mh)
    assert commented.status_code == 200, commented.text
    # screenings and a support-centre case with follow-ups, and a publication of both
    screening_pid = await screening_project(client, admin_headers)
    rng = random.Random(23)
    for _ in range(40):
        await submit_screening(client, admin_headers, screening_pid,
                               submission_xml(random_answers(rng, year=2026)))
    await seed_case(client, pool, admin_headers, screening_pid)
    assert await publish_now(pool, settings, screening_pid,
                             datetime(2026, 12, 8, 12, tzinfo=UTC)) is not None
    # a phone: an app user allowed the household form
    app_user = (await client.post(f"/v1/projects/{pid}/app-users",
                                  json={"displayName": "phone 1"}, headers=admin_headers)).json()
    assigned = await client.post(
        f"/v1/projects/{pid}/forms/{FORM_ID}/assignments/app-user/{app_user['id']}",
        headers=admin_headers)
    assert assigned.status_code == 200, assigned.text
    phone = f"/v1/key/{app_user['token']}/projects/{pid}"

    # 200 more submissions from the phone, each with a photo, while the backup is taken
    sent: dict[str, dict] = {}
    snapshot_taken = asyncio.Event()

    async def send(n: int) -> None:
        record = Household(name=f"late {n}")
        info = sent[record.instance_id] = {"after_snapshot": snapshot_taken.is_set()}
        answered = await client.post(
            f"{phone}/submission", headers={"X-OpenRosa-Version": "1.0"},
            files={"xml_submission_file": ("s.xml", record.xml(), "text/xml"),
                   "photo.jpg": ("photo.jpg", f"photo {n}".encode() * 50, "image/jpeg")})
        assert answered.status_code == 201, answered.text
        info["answered_before_backup"] = not backup_started.is_set()

    backup_started = asyncio.Event()

    async def phones() -> None:
        queue = list(range(200))

        async def worker() -> None:
            while queue:
                await send(queue.pop(0))
                await asyncio.sleep(0.1)  # phones, not a flood: they span the backup

        await asyncio.gather(*(worker() for _ in range(4)))

    source_audits_before = (await client.get("/v1/audits?limit=100000",
                                             headers=admin_headers)).json()
    arriving = asyncio.ensure_future(phones())
    while len([i for i in sent.values() if "answered_before_backup" in i]) < 30:
        await asyncio.sleep(0.05)

    async def after_snapshot() -> None:
        snapshot_taken.set()
        answered = len([i for i in sent.values() if "answered_before_backup" in i])
        for _ in range(600):  # phones keep submitting while the backup is written
            if len([i for i in sent.values() if "answered_before_backup" in i]) >= answered + 20:
                break
            await asyncio.sleep(0.05)

    backup_started.set()
    summary = await backup_service.write_backup(
        database_url, source_store, tmp_path / "live.fsbackup", PASSPHRASE,
        after_snapshot=after_snapshot)
    await arriving
    assert len(sent) == 200

    dsn = await databases()
    target_dir = tmp_path / "restored"
    restored_store = LocalAttachmentStore(target_dir / "attachments")
    await backup_service.restore_backup(summary.path, PASSPHRASE, dsn, restored_store)
    restore_done = datetime.now(UTC)
    app = create_app(Settings(
        database_url=dsn, data_dir=target_dir, admin_email=ADMIN_EMAIL,
        admin_password="not the one in the backup", login_address_limit=100_000,
        login_account_limit=100_000, publication_interval_seconds=0,
        publication_settle_seconds=10**9))
    async with AsyncTestClient(app=app, timeout=60) as restored:
        # a user's password and a phone's token still work
        restored_admin = await login(restored, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert (await login(restored, manager["email"], manager["password"]))
        form_list = await restored.get(f"{phone}/formList",
                                       headers={"X-OpenRosa-Version": "1.0"})
        assert form_list.status_code == 200 and FORM_ID in form_list.text
        restored_audits = (await restored.get("/v1/audits?limit=100000",
                                              headers=restored_admin)).json()

        listed = (await restored.get(f"{base}?limit=100000", headers=restored_admin)).json()
        in_backup = {s["instanceId"] for s in listed}
        # every submission committed before the backup, none sent after its snapshot
        assert set(seeded["photos"]) <= in_backup
        assert {i for i, info in sent.items() if info["answered_before_backup"]} <= in_backup
        assert not {i for i, info in sent.items() if info["after_snapshot"]} & in_backup
        late = [i for i in sent if i in in_backup]
        assert 30 <= len(late) < 200, len(late)

        ids = sorted(in_backup)
        after = await _api_state(restored, restored_admin, pid, ids, screening_pid)
        before = await _api_state(client, admin_headers, pid, ids, screening_pid)
    assert after == before
    assert after["summary"]["cells"] and after["entities"]
    assert all(one["files"] for iid, one in after["submissions"].items() if iid in sent)
    # the audit log: what the restored server had before it was read is the source's
    def key(row):
        return repr(sorted(row.items()))

    source_rows = {key(r) for r in (await client.get("/v1/audits?limit=100000",
                                                     headers=admin_headers)).json()}
    restored_rows = [r for r in restored_audits if datetime.fromisoformat(
        r["loggedAt"].replace("Z", "+00:00")) < restore_done]
    assert {key(r) for r in restored_rows} <= source_rows
    assert {key(r) for r in source_audits_before} <= {key(r) for r in restored_audits}


async def test_admin_pages_warn_when_the_newest_backup_is_older_than_two_days(client,
                                                                               pool) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
    from tests.pages_client import signed_in

    admin = await signed_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)

    async def notice(path: str, language: str) -> str:
        page = await admin.get(client, path, **{"Accept-Language": language})
        assert page.status_code == 200, page.text
        return page.text

    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM backups")
    assert 'id="backup-warning"' in (text := await notice("/admin/users", "en"))
    assert "No backup has been made yet" in text
    assert "Резервная копия ещё ни разу не сделана" in await notice("/admin/projects", "ru")

    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await backups_db.record_backup(conn, now - timedelta(days=3), "old.fsbackup", 10, 0, True)
    for path in ("/admin/users", "/admin/projects", "/admin/audits"):
        text = await notice(path, "en")
        assert 'id="backup-warning"' in text and "is 3 days old" in text, path
    assert "Нусхаи эҳтиётии охирин 3 рӯз" in await notice("/admin/audits", "tg")

    async with pool.acquire() as conn:
        await backups_db.record_backup(conn, now - timedelta(hours=5), "new.fsbackup", 10, 0, True)
        assert await backup_service.newest_backup_time(conn) == now - timedelta(hours=5)
    text = await notice("/admin/users", "en")
    assert 'id="backup-warning"' not in text and 'id="backup-status"' in text
    assert "Последняя резервная копия:" in await notice("/admin/users", "ru")


async def test_postgres_store_files_travel_in_the_dump(backup_file, seeded, databases,
                                                       tmp_path) -> None:
    """With FIELDSURVEY_ATTACHMENTS=postgres the files are rows of the database: the backup
    holds them in its dump (no attachments/ member), the restore checks each SHA-256."""
    from api.storage import blob_key
    from api.storage.postgres import PostgresAttachmentStore

    # a server on the PostgreSQL store: the seeded one, its files moved into the database
    source = await databases()
    local = LocalAttachmentStore(tmp_path / "files")
    await backup_service.restore_backup(backup_file, PASSPHRASE, source, local)
    stores = [PostgresAttachmentStore(source)]
    try:
        # every file the restored database refers to (the backup holds the whole test database:
        # other modules' submissions too, whichever ran before in this process), not only ours
        conn = await asyncpg.connect(source)
        try:
            async for keys in blobs_db.referenced_keys(conn):
                for key in keys:
                    assert await stores[0].put(await local.get(key)) == key
        finally:
            await conn.close()
        for photo in seeded["photos"].values():
            assert await stores[0].exists(blob_key(photo))
        made = await backup_service.write_backup(source, stores[0], tmp_path / "pg.fsbackup",
                                                 PASSPHRASE)
        assert made.attachments >= 2
        checked = await backup_service.verify_backup(made.path, PASSPHRASE)
        assert checked.header["attachmentStore"] == "postgres"
        assert checked.counts["attachment_blobs"] >= 2
        refused = await refused_restore(made.path, PASSPHRASE, databases, tmp_path,
                                        "store-different")
        assert "'postgres'" in str(refused)

        target = await databases()
        stores.append(PostgresAttachmentStore(target))
        restored = await backup_service.restore_backup(made.path, PASSPHRASE, target, stores[1])
        assert restored.attachments == made.attachments
        for photo in seeded["photos"].values():
            assert await stores[1].get(blob_key(photo)) == photo
    finally:
        for store in stores:
            await store.close()

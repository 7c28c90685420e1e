"""Upgrading keeps every row: a database as release 0.1.0 left it, migrated by this code.

The database gets only the migrations 0.1.0 had (RELEASE_0_1_0, with each file's SHA-256: a
released migration is never edited), then rows written as 0.1.0 wrote them (plain SQL in that
schema: users and their passwords, an app user, a form with an image question, a submission
with its photo in the attachment folder, a comment, an entity, a publication, audit rows).
`fieldsurvey db migrate` of this code upgrades it; every row is still there and the server
serves it: logins, the phone's form list, the submission, its photo, the entity. Every later
release keeps such a test for the release before it.

Also: two migrators at once apply each migration once (the advisory lock), and a database
newer than this code (a migration it does not know) is refused with a clear message by the
CLI and by the server's startup, and left unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth import digest_ha1, hash_password
from api.settings import Settings
from db.migrate import DatabaseNewerThanCode, apply_migrations
from forms.compile import compile_xlsform
from tests.conftest import ROOT, _with_database
from tests.xlsforms import xlsx_bytes

# The migrations of release 0.1.0 (tag v0.1.0), with the SHA-256 of each file.
RELEASE_0_1_0 = {
    "0001_foundation.sql": "ce5b45e7e8b343ec94ff572f94a4ad3365e3f1edbf840a47b76f5b41755fcd0a",
    "0002_submissions.sql": "3caf825392e2eaf6d162ba3c4f4e2cd1ee4430fe41d48a7c054d089934a22879",
    "0003_screenings.sql": "aceb141572a1a75016641d8ee5d84e23d4d0017d04ef84d5b325ed05d581ddc6",
    "0004_summaries.sql": "4303e7336fe1dd87c148532626d6f3532e257965952237fd651f9b556f7f1779",
    "0005_server_secrets.sql": "6d0e45037d862d9047b2502be50c608e182460fc1e4a4ed01b0de401c6d025ac",
    "0007_user_preferences.sql": "abf63a0a0eb279b5f6322f36c23e63438f3c8f112f0c60317896ca46e8b80cbc",
    "0008_submission_pages.sql": "2d966314353000caac4984f99a64d3e7def06b0f572c8512325b424dd89586c1",
    "0009_public_links_drafts.sql": "c452e67be5bc90d7b223f95c498fabdf36ac57e5918640b022663cb19a0346ac",
    "0010_entities.sql": "9d7e737d80a423207a7155ba06341f2efbbe4f6d9e1ff7ef69388bd334ec03bd",
    "0011_digest_nonces.sql": "f8c0a7899e504ba43c50a17d28bfddacce0bcd6b60d5430bcdb7fe04272e3a3e",
    "0012_publications.sql": "1491b766fa1220f62d369dafc57feb81192dfd48e494d051d17da55ae84d94c9",
    "0013_project_names_shared.sql": "04e8581f52794f3cf45d5ba1e580991828857abd98a53e1e6b779bbeca038c0b",
    "0014_case_record_keys.sql": "3559e44ea68eb2a143740d99dac5204cc60a137c81f8b88a35e79a66d7f920b4",
    "0017_case_publications.sql": "9488b2b67d4dd80f5918a49fb527e155fbbd4499b166a8f850b8419e5cb4652b",
    "0018_publication_tables.sql": "5da7ac37c3f43bc854dffa27c09f6b8654b19f485c57bc5ca31a568cd33962c2",
}
# 0.1.0's own record of what it applied (db/migrate.py of that release)
CREATE_MIGRATIONS_TABLE_0_1_0 = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

ADMIN = ("admin@ngo.example", "old-admin-password")
COLLECTOR = ("collector@ngo.example", "old-collector-password")
APP_USER_TOKEN = "Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789abcdefGHIJKLMNopqrstuvwxyz01"
INSTANCE_ID = "uuid:6b1c1c2e-5d2a-4a43-9d55-0d2b7e1d9a01"
ENTITY_UUID = "2f0f7c4e-1b5e-4c53-8d7e-3a4b5c6d7e8f"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"  # a JPEG's shape


def visit_form() -> bytes:
    return xlsx_bytes({
        "survey": [["type", "name", "label", "parameters"], ["text", "place", "Place", None],
                   ["image", "photo", "Photo", "max-pixels=1024"]],
        "settings": [["form_id", "version", "form_title"], ["site_visit", "2026-10", "Site visit"]],
    })


async def create_database(server_url: str) -> str:
    name = f"fieldsurvey_upgrade_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_database(server_url, name)


async def apply_release_0_1_0(conn: asyncpg.Connection) -> None:
    """The schema exactly as 0.1.0 left it: its migrations only, recorded as it recorded them."""
    await conn.execute(CREATE_MIGRATIONS_TABLE_0_1_0)
    for name, sha256 in RELEASE_0_1_0.items():
        sql = (ROOT / "db" / "migrations" / name).read_bytes()
        assert hashlib.sha256(sql).hexdigest() == sha256, f"{name} was edited after its release"
        async with conn.transaction():
            await conn.execute(sql.decode("utf-8"))
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               int(name[:4]), name[5:-4])


async def fill_as_0_1_0(conn: asyncpg.Connection, attachments: Path) -> dict:
    """Rows as 0.1.0 wrote them, in its schema (its INSERTs, written out)."""
    form = compile_xlsform(visit_form(), validate=False)
    xml = (f'<data id="site_visit" version="2026-10"><place>Khujand</place>'
           f"<photo>photo.jpg</photo><meta><instanceID>{INSTANCE_ID}</instanceID></meta>"
           "</data>").encode()
    answers = {"place": "Khujand", "photo": "photo.jpg", "meta": {"instanceID": INSTANCE_ID}}
    blob = hashlib.sha256(PHOTO).hexdigest()
    # 0.1.0's attachment folder: ATTACHMENTS/ab/abcdef... (content-addressed)
    (attachments / blob[:2]).mkdir(parents=True, exist_ok=True)
    (attachments / blob[:2] / blob).write_bytes(PHOTO)
    async with conn.transaction():
        default = await conn.fetchval(
            "INSERT INTO projects (name, description) VALUES ('Default', "
            "'Bundled questionnaires of fieldsurvey') RETURNING id")
        pid = await conn.fetchval(
            "INSERT INTO projects (name) VALUES ('Sughd office') RETURNING id")
        ids = {}
        for key, (email, password), is_admin in (("admin", ADMIN, True),
                                                  ("collector", COLLECTOR, False)):
            actor = await conn.fetchval(
                "INSERT INTO actors (type, display_name) VALUES ('user', $1) RETURNING id", email)
            await conn.execute(
                "INSERT INTO users (actor_id, email, password_hash, is_admin, digest_ha1, locale)"
                " VALUES ($1, $2, $3, $4, $5, 'ru')", actor, email, hash_password(password),
                is_admin, None if is_admin else digest_ha1(email, password))
            ids[key] = actor
        await conn.execute("INSERT INTO assignments (actor_id, project_id, role) "
                           "VALUES ($1, $2, 'collector')", ids["collector"], pid)
        phone = await conn.fetchval(
            "INSERT INTO actors (type, display_name) VALUES ('field_key', 'Phone 1') RETURNING id")
        await conn.execute("INSERT INTO field_keys (actor_id, project_id, token, created_by) "
                           "VALUES ($1, $2, $3, $4)", phone, pid, APP_USER_TOKEN, ids["admin"])
        form_id = await conn.fetchval(
            "INSERT INTO forms (project_id, xml_form_id) VALUES ($1, 'site_visit') RETURNING id",
            pid)
        def_id = await conn.fetchval(
            "INSERT INTO form_defs (form_id, version, title, xlsform, xlsform_name, xform, md5, "
            "published_at) VALUES ($1, $2, $3, $4, 'site_visit.xlsx', $5, $6, now()) RETURNING id",
            form_id, form.version, form.title, visit_form(), form.xform, form.md5)
        await conn.execute("UPDATE forms SET current_def_id = $1 WHERE id = $2", def_id, form_id)
        await conn.execute("INSERT INTO form_assignments (actor_id, form_id) VALUES ($1, $2)",
                           phone, form_id)
        submission = await conn.fetchval(
            "INSERT INTO submissions (form_id, instance_id, submitter_id, device_id, "
            "review_state) VALUES ($1, $2, $3, 'collect:old', 'approved') RETURNING id",
            form_id, INSTANCE_ID, phone)
        version = await conn.fetchval(
            "INSERT INTO submission_versions (submission_id, form_id, form_def_id, instance_id, "
            "xml, xml_md5, answers, submitter_id, device_id, user_agent, attachments_expected, "
            "attachments_present) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'collect:old', "
            "'org.odk.collect.android/v2024.3.0', 1, 1) RETURNING id",
            submission, form_id, def_id, INSTANCE_ID, xml, hashlib.md5(xml).digest(),
            json.dumps(answers), phone)
        await conn.execute("UPDATE submissions SET current_version_id = $1 WHERE id = $2",
                           version, submission)
        await conn.execute(
            "INSERT INTO submission_attachments (version_id, name, blob_key, content_type, size,"
            " uploaded_at) VALUES ($1, 'photo.jpg', $2, 'image/jpeg', $3, now())",
            version, blob, len(PHOTO))
        await conn.execute("INSERT INTO submission_comments (submission_id, actor_id, body) "
                           "VALUES ($1, $2, 'Checked with the family')", submission, ids["admin"])
        dataset = await conn.fetchval(
            "INSERT INTO datasets (project_id, name) VALUES ($1, 'households') RETURNING id", pid)
        await conn.execute("INSERT INTO dataset_properties (dataset_id, name) "
                           "VALUES ($1, 'village')", dataset)
        entity = await conn.fetchval(
            "INSERT INTO entities (dataset_id, uuid, creator_id) VALUES ($1, $2, $3) RETURNING id",
            dataset, uuid.UUID(ENTITY_UUID), ids["admin"])
        await conn.execute(
            "INSERT INTO entity_defs (entity_id, version, root, current, label, data, "
            "data_received, creator_id, source_type) VALUES ($1, 1, true, true, "
            "'Household 12', $2::jsonb, $3::jsonb, $4, 'api')", entity,
            json.dumps({"village": "Vahdat"}),
            json.dumps({"label": "Household 12", "village": "Vahdat"}), ids["admin"])
        publication = await conn.fetchval(
            "INSERT INTO publications (project_id, through_month, rubric_versions) "
            "VALUES ($1, 202610, '{2026.1}') RETURNING id", pid)
        await conn.execute("INSERT INTO publication_months (publication_id, month, fingerprint, "
                           "salt) VALUES ($1, 202610, 'f0', 7)", publication)
        await conn.execute("INSERT INTO publication_cells (publication_id, dims, month, a, n, "
                           "key_sum) VALUES ($1, 1, 202610, 'high', 12, 4242)", publication)
        for actor, action, on in ((None, "user.create", f"user/{ids['admin']}"),
                                  (ids["admin"], "form.create", "form/site_visit")):
            await conn.execute("INSERT INTO audits (actor_id, action, acted_on) "
                               "VALUES ($1, $2, $3)", actor, action, on)
    return {"pid": pid, "default": default, "blob": blob}


async def columns_of_tables(conn: asyncpg.Connection) -> dict[str, list[str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name <> 'schema_migrations' "
        "ORDER BY table_name, ordinal_position")
    columns: dict[str, list[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    return columns


async def table_digests(conn: asyncpg.Connection, columns: dict[str, list[str]]) -> dict[str, str]:
    """Per table, an MD5 of all its rows' values in the given columns (0.1.0's columns: a
    later migration may add columns, never change what was stored)."""
    digests = {}
    for table, names in columns.items():
        listed = ", ".join(f'"{n}"' for n in names)
        digests[table] = await conn.fetchval(
            f'SELECT md5(coalesce(string_agg(r::text, chr(10) ORDER BY r::text), \'\')) '
            f'FROM (SELECT {listed} FROM "{table}") r')
    return digests


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    # tables, and views that keep a table's name readable (migration 0050: `submissions`)
    tables = await conn.fetch("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = 'public' ORDER BY table_name")
    counts = {}
    for row in tables:
        name = row["table_name"]
        counts[name] = await conn.fetchval(f'SELECT count(*) FROM "{name}"')
    return counts


def run_cli(*argv: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "FIELDSURVEY_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "api.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
async def upgraded(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("upgrade")
    database_url = await create_database(server_url)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_release_0_1_0(conn)
        filled = await fill_as_0_1_0(conn, data_dir / "attachments")
        before = await row_counts(conn)
        columns = await columns_of_tables(conn)
        digests_before = await table_digests(conn, columns)
    finally:
        await conn.close()
    migrated = run_cli("db", "migrate", database_url=database_url, data_dir=data_dir)
    assert migrated.returncode == 0, migrated.stderr
    conn = await asyncpg.connect(database_url)
    try:
        after = await row_counts(conn)
        digests_after = await table_digests(conn, columns)
    finally:
        await conn.close()
    return {**filled, "url": database_url, "data_dir": data_dir, "before": before,
            "after": after, "digests": (digests_before, digests_after),
            "migrate_output": migrated.stdout}


async def test_every_row_of_0_1_0_is_kept(upgraded) -> None:
    before, after = upgraded["before"], upgraded["after"]
    assert set(before) <= set(after)
    # schema_migrations gains this release's migrations; every other table of 0.1.0 keeps its rows
    assert {t: after[t] for t in before if t != "schema_migrations"} == {
        t: n for t, n in before.items() if t != "schema_migrations"}
    assert after["schema_migrations"] >= before["schema_migrations"]
    # and every value 0.1.0 stored is unchanged, table by table
    digests_before, digests_after = upgraded["digests"]
    assert {t for t in digests_before if digests_before[t] != digests_after[t]} == set()
    for table in ("users", "field_keys", "submissions", "submission_attachments", "entities",
                  "publications", "publication_cells", "audits", "submission_comments"):
        assert before[table] > 0, table


async def test_the_upgraded_database_serves_what_0_1_0_stored(upgraded) -> None:
    settings = Settings(database_url=upgraded["url"], data_dir=upgraded["data_dir"],
                        publication_interval_seconds=0)
    pid = upgraded["pid"]
    async with AsyncTestClient(app=create_app(settings), timeout=60) as client:
        tokens = {}
        for who, (email, password) in (("admin", ADMIN), ("collector", COLLECTOR)):
            login = await client.post("/v1/sessions", json={"email": email, "password": password})
            assert login.status_code == 200, (who, login.text)
            tokens[who] = {"Authorization": f"Bearer {login.json()['token']}"}
        admin = tokens["admin"]
        listing = await client.get(f"/v1/key/{APP_USER_TOKEN}/projects/{pid}/formList",
                                   headers={"X-OpenRosa-Version": "1.0"})
        assert listing.status_code == 200 and "site_visit" in listing.text
        base = f"/v1/projects/{pid}/forms/site_visit/submissions"
        one = await client.get(f"{base}/{INSTANCE_ID}", headers=admin)
        assert one.status_code == 200, one.text
        assert one.json()["reviewState"] == "approved"
        xml = await client.get(f"{base}/{INSTANCE_ID}.xml", headers=admin)
        assert b"<place>Khujand</place>" in xml.content
        photo = await client.get(f"{base}/{INSTANCE_ID}/attachments/photo.jpg", headers=admin)
        assert photo.status_code == 200 and photo.content == PHOTO
        comments = await client.get(f"{base}/{INSTANCE_ID}/comments", headers=admin)
        assert [c["body"] for c in comments.json()] == ["Checked with the family"]
        entity = await client.get(
            f"/v1/projects/{pid}/datasets/households/entities/{ENTITY_UUID}", headers=admin)
        assert entity.status_code == 200, entity.text
        assert entity.json()["currentVersion"]["data"] == {"village": "Vahdat"}
        # and the upgraded database takes new data: the collector's phone sends a submission
        new_id = f"uuid:{uuid.uuid4()}"
        posted = await client.post(
            f"/v1/key/{APP_USER_TOKEN}/projects/{pid}/submission",
            headers={"X-OpenRosa-Version": "1.0"},
            files=[("xml_submission_file", ("s.xml", (
                f'<data id="site_visit" version="2026-10"><place>Isfara</place><photo/>'
                f"<meta><instanceID>{new_id}</instanceID></meta></data>").encode(), "text/xml"))])
        assert posted.status_code == 201, posted.text


async def test_two_migrators_at_once_apply_each_migration_once(server_url: str) -> None:
    database_url = await create_database(server_url)
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        applied = await asyncio.gather(apply_migrations(first), apply_migrations(second))
        versions = [m.version for run in applied for m in run]
        assert sorted(versions) == sorted(set(versions))  # none twice
        recorded = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == sorted(versions)
    finally:
        await first.close()
        await second.close()


async def test_a_database_newer_than_the_code_is_refused(upgraded, server_url: str) -> None:
    database_url = await create_database(server_url)
    conn = await asyncpg.connect(database_url)
    try:
        await apply_migrations(conn)
        await conn.execute("INSERT INTO schema_migrations (version, name) "
                           "VALUES (9999, 'from_a_later_release')")
        before = await row_counts(conn)
    finally:
        await conn.close()
    refused = run_cli("db", "migrate", database_url=database_url, data_dir=upgraded["data_dir"])
    assert refused.returncode == 1
    assert "newer than this fieldsurvey" in refused.stderr
    assert "9999_from_a_later_release" in refused.stderr
    assert "Traceback" not in refused.stderr
    # the server too, before any worker starts (systemd sees a failure: exit code 1)
    served = run_cli("serve", "--workers", "2", "--port", "1", database_url=database_url,
                     data_dir=upgraded["data_dir"])
    assert served.returncode == 1 and "newer than this fieldsurvey" in served.stderr
    settings = Settings(database_url=database_url, data_dir=upgraded["data_dir"],
                        publication_interval_seconds=0)
    with pytest.raises(BaseException) as startup:  # the server does not start
        async with AsyncTestClient(app=create_app(settings)):
            pass
    assert startup.group_contains(DatabaseNewerThanCode) if isinstance(
        startup.value, BaseExceptionGroup) else startup.type is DatabaseNewerThanCode
    conn = await asyncpg.connect(database_url)
    try:
        assert await row_counts(conn) == before
    finally:
        await conn.close()

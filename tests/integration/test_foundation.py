"""Foundation: migrations, the audit log, sessions, passwords, and form publishing over REST."""

from __future__ import annotations

import hashlib
import shutil
import uuid

import asyncpg
import pytest

from db.migrate import apply_migrations, available_migrations
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, require
from tests.xlsforms import XLSX, simple_form, xlsx_bytes

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "message", "slug"}


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_KEYS <= body.keys()
    assert body["status"] == status
    if code is not None:
        assert body["slug"] == code, body
    return body


async def test_migrations_are_recorded_and_idempotent(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        recorded = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert recorded == [m.version for m in available_migrations()]
        assert await apply_migrations(conn) == []


async def test_audit_log_is_append_only(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO audits (action) VALUES ('test.append')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audits SET action = 'x' WHERE action = 'test.append'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audits WHERE action = 'test.append'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("TRUNCATE audits")


async def test_login_and_current_user(client, admin_headers) -> None:
    response = await client.get("/v1/users/current", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["email"] == ADMIN_EMAIL
    assert response.json()["isAdmin"] is True


async def test_wrong_password_is_401_problem(client) -> None:
    response = await client.post(
        "/v1/sessions", json={"email": ADMIN_EMAIL, "password": "not the password"}
    )
    assert_problem(response, 401, "auth-failed")
    response = await client.post(
        "/v1/sessions", json={"email": "nobody@test.example", "password": "x"}
    )
    assert_problem(response, 401, "auth-failed")


async def test_no_credentials_is_401(client) -> None:
    assert_problem(await client.get("/v1/projects"), 401, "auth-required")


async def test_deleted_session_is_401(client) -> None:
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    token = headers["Authorization"].split()[1]
    assert (await client.delete(f"/v1/sessions/{token}", headers=headers)).status_code == 200
    assert_problem(await client.get("/v1/projects", headers=headers), 401, "session-invalid")


async def test_expired_session_is_401(client, pool) -> None:
    headers = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    token = headers["Authorization"].split()[1]
    await pool.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        hashlib.sha256(token.encode()).digest(),
    )
    assert_problem(await client.get("/v1/projects", headers=headers), 401, "session-invalid")


async def test_unknown_token_is_401(client) -> None:
    response = await client.get("/v1/projects", headers={"Authorization": "Bearer nope"})
    assert_problem(response, 401, "session-invalid")


async def test_role_without_right_is_403(client, make_user, default_project_id) -> None:
    ministry = await make_user("ministry", default_project_id)
    response = await client.get(f"/v1/projects/{default_project_id}/forms", headers=ministry["headers"])
    assert_problem(response, 403, "forbidden")
    response = await client.post("/v1/projects", json={"name": "x"}, headers=ministry["headers"])
    assert_problem(response, 403, "forbidden")


async def test_passwords_are_never_stored_in_clear(client, make_user, pool) -> None:
    user = await make_user("researcher", 1)
    row = await pool.fetchrow("SELECT password_hash FROM users WHERE actor_id = $1", user["id"])
    assert row["password_hash"].startswith("$argon2id$")
    assert user["password"] not in row["password_hash"]
    # nothing in any table holds the password
    dump = await pool.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM audits) t"
    )
    assert user["password"] not in (dump or "")
    assert ADMIN_PASSWORD not in (dump or "")


async def test_bundled_forms_are_published_in_default_project(
    client, admin_headers, default_project_id
) -> None:
    response = await client.get(f"/v1/projects/{default_project_id}/forms", headers=admin_headers)
    assert response.status_code == 200
    from tests.unit.test_forms_library import LIBRARY

    published = {f["xmlFormId"] for f in response.json() if f["publishedAt"]}
    assert published == {p.stem for p in LIBRARY.glob("*.xlsx")}


@pytest.fixture
async def project(client, admin_headers) -> int:
    response = await client.post(
        "/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:8]}"}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def test_publish_xlsform_and_download(client, admin_headers, project) -> None:
    data = simple_form("pubtest", "2026010101")
    response = await client.post(
        f"/v1/projects/{project}/forms?publish=true",
        content=data,
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert response.status_code == 200, response.text
    form = response.json()
    assert form["xmlFormId"] == "pubtest" and form["version"] == "2026010101"
    assert form["publishedAt"] is not None and form["state"] == "open"

    xml = await client.get(f"/v1/projects/{project}/forms/pubtest.xml", headers=admin_headers)
    assert xml.status_code == 200
    assert hashlib.md5(xml.content).hexdigest() == form["hash"]
    assert b'id="pubtest"' in xml.content

    xlsx = await client.get(f"/v1/projects/{project}/forms/pubtest.xlsx", headers=admin_headers)
    assert xlsx.status_code == 200 and xlsx.content == data

    again = await client.post(
        f"/v1/projects/{project}/forms?publish=true",
        content=data,
        headers={**admin_headers, "Content-Type": XLSX},
    )
    assert_problem(again, 409, "form-exists")


async def test_new_version_draft_publish_and_duplicate_version_409(
    client, admin_headers, project
) -> None:
    headers = {**admin_headers, "Content-Type": XLSX}
    base = f"/v1/projects/{project}/forms"
    assert (await client.post(f"{base}?publish=true", content=simple_form("v", "1"), headers=headers)).status_code == 200
    # a new draft with the same version string cannot be published as is
    assert (await client.post(f"{base}/v/draft", content=simple_form("v", "1"), headers=headers)).status_code == 200
    assert_problem(await client.post(f"{base}/v/draft/publish", headers=admin_headers), 409, "form-version-exists")
    # ... but can under a new version, which is written into the XForm
    published = await client.post(f"{base}/v/draft/publish?version=2", headers=admin_headers)
    assert published.status_code == 200, published.text
    form = (await client.get(f"{base}/v", headers=admin_headers)).json()
    assert form["version"] == "2"
    xml = await client.get(f"{base}/v.xml", headers=admin_headers)
    assert b'version="2"' in xml.content
    assert hashlib.md5(xml.content).hexdigest() == form["hash"]
    # a draft whose form_id differs is refused (Central: 400.8, unexpected value)
    assert_problem(
        await client.post(f"{base}/v/draft", content=simple_form("other", "3"), headers=headers),
        400,
        "form-id-mismatch",
    )


async def test_form_state_patch(client, admin_headers, project) -> None:
    headers = {**admin_headers, "Content-Type": XLSX}
    base = f"/v1/projects/{project}/forms"
    await client.post(f"{base}?publish=true", content=simple_form("st", "1"), headers=headers)
    for state in ("closing", "closed", "open"):
        response = await client.patch(f"{base}/st", json={"state": state}, headers=admin_headers)
        assert response.status_code == 200 and response.json()["state"] == state
    assert_problem(
        await client.patch(f"{base}/st", json={"state": "gone"}, headers=admin_headers), 400
    )


async def test_broken_xlsform_names_problem_and_row(client, admin_headers, project) -> None:
    broken = xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label"],
                ["integer", "age", "Age"],
                ["select_one nosuchlist", "pick", "Pick"],
            ],
            "choices": [["list_name", "name", "label"], ["yn", "yes", "Yes"]],
            "settings": [["form_id"], ["broken"]],
        }
    )
    response = await client.post(
        f"/v1/projects/{project}/forms", content=broken, headers={**admin_headers, "Content-Type": XLSX}
    )
    body = assert_problem(response, 400, "xlsform-invalid")
    assert "nosuchlist" in body["detail"]
    assert body["row"] == 3


async def test_xlsform_with_warnings_needs_ignore_warnings(client, admin_headers, project) -> None:
    # an image question without max-pixels gives a pyxform warning on its row
    warned = simple_form("warned", "1", extra_rows=[["image", "photo", "Photo"]])
    headers = {**admin_headers, "Content-Type": XLSX}
    response = await client.post(f"/v1/projects/{project}/forms", content=warned, headers=headers)
    body = assert_problem(response, 400, "xlsform-has-warnings")
    assert any("max-pixels" in w for w in body["warnings"])
    assert body["problems"][0]["row"] == 5
    response = await client.post(
        f"/v1/projects/{project}/forms?ignoreWarnings=true", content=warned, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_xlsform_without_form_id_is_refused(client, admin_headers, project) -> None:
    no_id = xlsx_bytes(
        {"survey": [["type", "name", "label"], ["text", "a", "A"]]}
    )
    response = await client.post(
        f"/v1/projects/{project}/forms", content=no_id, headers={**admin_headers, "Content-Type": XLSX}
    )
    assert_problem(response, 400, "form-id-missing")


async def test_odk_validate_errors_are_reported(client, admin_headers, project) -> None:
    require(shutil.which("java") is not None, "java not on PATH: ODK Validate not run")
    # pyxform accepts this; JavaRosa does not (a relevance with an unknown function)
    invalid = xlsx_bytes(
        {
            "survey": [
                ["type", "name", "label", "relevant"],
                ["integer", "age", "Age", None],
                ["text", "later", "Later", "no_such_function(${age}) > 1"],
            ],
            "settings": [["form_id"], ["javarosa"]],
        }
    )
    response = await client.post(
        f"/v1/projects/{project}/forms", content=invalid, headers={**admin_headers, "Content-Type": XLSX}
    )
    body = assert_problem(response, 400, "odk-validate-failed")
    assert "no_such_function" in str(body["problems"])


async def test_upload_unsupported_content_type(client, admin_headers, project) -> None:
    response = await client.post(
        f"/v1/projects/{project}/forms", content=b"a,b", headers={**admin_headers, "Content-Type": "text/csv"}
    )
    assert_problem(response, 415, "content-type-unsupported")


async def test_upload_xform_body(client, admin_headers, project) -> None:
    from forms.compile import compile_xlsform

    xform = compile_xlsform(simple_form("asxml", "7"), validate=False).xform
    response = await client.post(
        f"/v1/projects/{project}/forms?publish=true",
        content=xform.encode(),
        headers={**admin_headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "7"
    assert_problem(
        await client.get(f"/v1/projects/{project}/forms/asxml.xlsx", headers=admin_headers), 404
    )


async def test_form_media_upload_and_carry_over_to_next_draft(client, admin_headers, project) -> None:
    def with_media(version: str) -> bytes:
        return xlsx_bytes({
            "survey": [["type", "name", "label"], ["select_one_from_file towns.csv", "town", "Town"]],
            "settings": [["form_id", "version"], ["media", version]],
        })

    base = f"/v1/projects/{project}/forms"
    headers = {**admin_headers, "Content-Type": XLSX}
    assert (await client.post(base, content=with_media("1"), headers=headers)).status_code == 200
    listed = (await client.get(f"{base}/media/draft/attachments", headers=admin_headers)).json()
    assert [(a["name"], a["exists"]) for a in listed] == [("towns.csv", False)]
    # a file the form does not name is refused
    refused = await client.post(f"{base}/media/draft/attachments/other.csv", content=b"x",
                                headers={**admin_headers, "Content-Type": "text/csv"})
    assert_problem(refused, 404, "attachment-not-found")
    uploaded = await client.post(f"{base}/media/draft/attachments/towns.csv", content=b"name,label\na,A\n",
                                 headers={**admin_headers, "Content-Type": "text/csv"})
    assert uploaded.status_code == 200
    assert (await client.post(f"{base}/media/draft/publish", headers=admin_headers)).status_code == 200
    # the next version's draft keeps the file
    assert (await client.post(f"{base}/media/draft", content=with_media("2"), headers=headers)).status_code == 200
    listed = (await client.get(f"{base}/media/draft/attachments", headers=admin_headers)).json()
    assert [(a["name"], a["exists"]) for a in listed] == [("towns.csv", True)]
    assert listed[0]["hash"] == hashlib.md5(b"name,label\na,A\n").hexdigest()


async def test_server_secrets_are_made_once(pool) -> None:
    from db.secrets import get_secret

    async with pool.acquire() as conn:
        secret = await get_secret(conn, "digest-nonce")
        assert len(secret) == 32
        assert await get_secret(conn, "digest-nonce") == secret


async def test_encrypted_form_is_refused_not_silently_accepted(client, admin_headers, project) -> None:
    encrypted = xlsx_bytes({
        "survey": [["type", "name", "label"], ["text", "a", "A"]],
        "settings": [["form_id", "public_key"], ["secret_form", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]],
    })
    response = await client.post(
        f"/v1/projects/{project}/forms", content=encrypted, headers={**admin_headers, "Content-Type": XLSX}
    )
    assert_problem(response, 400, "form-encrypted-unsupported")


async def test_form_fields_as_central_lists_them(client, admin_headers, default_project_id) -> None:
    response = await client.get(f"/v1/projects/{default_project_id}/forms/community_awareness/fields",
                                headers=admin_headers)
    assert response.status_code == 200, response.text
    fields = {f["path"]: f for f in response.json()}
    assert fields["/household_member"]["type"] == "repeat" if "/household_member" in fields else any(
        f["type"] == "repeat" for f in fields.values())
    assert any(f["type"] == "structure" for f in fields.values())
    assert any(f.get("selectMultiple") for f in fields.values())
    assert fields["/meta/instanceID"]["type"] == "string"


async def test_administrators_keep_no_digest_hash(pool) -> None:
    from tests.conftest import ADMIN_EMAIL

    assert await pool.fetchval("SELECT digest_ha1 FROM users WHERE email = $1", ADMIN_EMAIL) is None


async def test_a_pooled_connection_comes_back_without_a_session_lock(database_url) -> None:
    """The pool skips asyncpg's reset round trip (db/pool.py), except for a connection that
    may still hold a session advisory lock: a block of `session_advisory_lock` that never
    finished (its task dropped mid-way) still leaves the connection clean for the next user."""
    from db.pool import open_pool, session_advisory_lock

    key = 7_240_559_901
    one = await open_pool(database_url, min_size=1, max_size=1)
    other = await asyncpg.connect(database_url)
    try:
        async with one.acquire() as conn:
            async with session_advisory_lock(conn, key):
                assert not await other.fetchval("SELECT pg_try_advisory_lock($1)", key)
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", key)  # unlocked at the end
        await other.execute("SELECT pg_advisory_unlock($1)", key)

        async with one.acquire() as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            block = session_advisory_lock(conn, key)
            await block.__aenter__()  # ... and its __aexit__ never runs
            assert not await other.fetchval("SELECT pg_try_advisory_lock($1)", key)
        async with one.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # the same session
            assert await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", backend
            ) == 0
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", key)
    finally:
        await other.close()
        await one.close()

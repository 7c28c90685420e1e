"""Fuzzing from the OpenAPI document (/schema/openapi.json) with schemathesis: every operation
gets generated requests (valid and invalid by its schema) as an administrator, over real HTTP,
against a server of its own database (so that what it creates disturbs no other test). No
answer may be a 500 or a cut-off body, and every REST error is problem+json.

Bounded: FUZZ_EXAMPLES requests per operation (env FIELDSURVEY_FUZZ_EXAMPLES), about two
minutes on a quiet machine."""

from __future__ import annotations

import os
import uuid

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LiveServer, _with_database
from tests.xlsforms import XLSX, simple_form

FUZZ_EXAMPLES = int(os.environ.get("FIELDSURVEY_FUZZ_EXAMPLES", "8"))
# Not REST: OpenRosa answers XML; pages answer HTML (their own tests walk them).
NOT_PROBLEM_JSON = ("/v1/key/", "/formList", "/submission", "/manifest", "/login", "/logout",
                    "/dashboard", "/static/", "/schema", "/forms/{xml_form_id}/attachments/",
                    "/datasets/{name}/integrity")  # OpenRosa (Collect): XML


@pytest.fixture(scope="module")
async def fuzz_server(server_url, tmp_path_factory, settings):
    name = f"fieldsurvey_fuzz_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    server = LiveServer(
        _with_database(server_url, name),
        tmp_path_factory.mktemp("fuzz"),
        env={"FIELDSURVEY_PUBLISH_BUNDLED_FORMS": "0"},
        startup_seconds=180,
    )
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            token = http.post(
                "/v1/sessions", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            pid = http.post("/v1/projects", json={"name": "fuzz"}, headers=headers).json()["id"]
            published = http.post(
                f"/v1/projects/{pid}/forms?publish=true", content=simple_form(),
                headers={**headers, "Content-Type": XLSX},
            )
            assert published.status_code == 200, published.text
        # every project's publication, as the app's publisher makes it (off in tests): the
        # summaries answer with their tables, not "no publication yet"
        from api.services.publications import publish_due
        from db.pool import connect

        conn = await connect(_with_database(server_url, name))
        try:
            for project in await conn.fetch("SELECT id FROM projects"):
                await publish_due(conn, project["id"], settings)
        finally:
            await conn.close()
        yield {"server": server, "headers": headers}
    finally:
        server.stop()
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_no_operation_fails_or_answers_outside_problem_json(fuzz_server):
    base = fuzz_server["server"].base_url
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    failures: list[tuple] = []
    operations = 0

    def check(case) -> None:
        response = case.call(base_url=base, headers=fuzz_server["headers"], timeout=60)
        where = f"{case.method} {case.path} {case.formatted_path} {case.query or ''}"
        if response.status_code >= 500:
            failures.append((where, response.status_code, response.text[:300]))
        elif response.status_code >= 400 and not any(p in case.path for p in NOT_PROBLEM_JSON):
            kind = response.headers.get("content-type") or [""]
            kind = kind[0] if isinstance(kind, list) else kind
            if not kind.startswith("application/problem+json"):
                failures.append((where, response.status_code, kind, response.text[:300]))

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        run = settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )(given(operation.as_strategy())(check))
        run()
    assert operations > 40
    summary = sorted({f"{f[0]} -> {f[1]}: {f[-1][:200]}" for f in failures})
    assert not summary, "\n".join(summary[:30])

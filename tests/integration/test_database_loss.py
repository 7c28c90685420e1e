"""The database lost (hardening, third round): background loops log and go on, shutdown never
depends on them, and what the database said stays in the log, never in an answer."""

from __future__ import annotations

import asyncio
import logging
import uuid
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import asyncpg

from api.services import summaries as summaries_service
from db.pool import open_pool
from tests.summaries_seed import OPENROSA, submission_xml

NS_RESPONSE = "{http://openrosa.org/http/response}"
DATABASE_WORDS = ("accepting connections", "PostgreSQL", "terminat", "connection was closed",
                  "asyncpg", "pg_")


async def test_the_summary_folder_logs_every_failure_and_goes_on(
        database_url, monkeypatch, caplog):
    pool = await open_pool(database_url, min_size=1, max_size=1)
    await pool.close()  # every round fails: the pool is closed (an InterfaceError)
    monkeypatch.setattr(summaries_service, "FOLD_INTERVAL_SECONDS", 0.01)
    app = SimpleNamespace(state=SimpleNamespace(pool=pool))  # the app's state, as Litestar's
    with caplog.at_level(logging.WARNING):
        async with summaries_service.fold_in_background(app):
            await asyncio.sleep(0.3)
        # leaving the lifespan (the shutdown) raised nothing
    failures = [r for r in caplog.records if "folding summary deltas failed" in r.getMessage()]
    assert len(failures) >= 3, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info for r in failures)  # each one with its traceback


async def test_health_and_openrosa_keep_the_database_text_in_the_log(
        client, admin_headers, pool, server_url, caplog):
    name = await pool.fetchval("SELECT current_database()")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        with caplog.at_level(logging.WARNING):
            health = await client.get("/health")
            sent = await client.post(
                "/v1/projects/1/submission", headers={**admin_headers, **OPENROSA},
                files={"xml_submission_file": ("s.xml", submission_xml(
                    {"consent": "no"}, instance_id=f"uuid:{uuid.uuid4()}"), "text/xml")})
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await client.app.state.pool.expire_connections()
        await pool.expire_connections()
    assert health.status_code == 503, health.text
    assert health.json()["detail"] and not any(w in health.text for w in DATABASE_WORDS), \
        health.text
    assert sent.status_code == 503, sent.text
    message = ET.fromstring(sent.content).find(f"{NS_RESPONSE}message")
    assert message.get("nature") == "error" and message.text
    assert not any(w in sent.text for w in DATABASE_WORDS), sent.text
    assert any("accepting connections" in r.getMessage() or "terminat" in r.getMessage()
               for r in caplog.records)  # what failed is in the log
    assert (await client.get("/health")).status_code == 200

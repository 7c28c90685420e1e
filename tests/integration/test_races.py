"""Races and states (hardening, third round): what two requests at the same moment must not
do, and what an archived project or a public link must never allow."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from api.auth import Actor
from api.problems import Problem
from api.services import users as users_service
from db import users as users_db
from db.migrate import apply_migrations
from db.pool import connect
from tests.conftest import _with_database


@pytest.fixture
async def empty_database(server_url):
    """A database of its own with the schema and no user: administrators can be counted."""
    name = f"fieldsurvey_races_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_database(server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    yield url
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_two_admins_deactivating_each_other_leave_one(empty_database):
    conns = [await connect(empty_database) for _ in range(2)]
    try:
        survivor = await users_db.create_user(conns[0], "first@test.example", None, is_admin=True)
        for round_ in range(6):
            other = await users_db.create_user(conns[0], f"admin{round_}@test.example", None,
                                               is_admin=True)
            a, b = (Actor(r["id"], "user", r["email"], is_admin=True) for r in (survivor, other))

            async def deactivate(conn, actor, target):
                try:
                    await users_service.deactivate_user(conn, actor, target.id)
                    return True
                except Problem as problem:
                    assert problem.status == 403
                    return False

            done = await asyncio.gather(deactivate(conns[0], a, b), deactivate(conns[1], b, a))
            assert sorted(done) == [False, True], round_
            assert await users_db.count_admins(conns[0]) == 1, round_
            survivor = survivor if done[0] else other
    finally:
        for conn in conns:
            await conn.close()

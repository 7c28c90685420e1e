"""First start: an administrator, the "Default" project and the bundled forms."""

from __future__ import annotations

import logging
import sys

import asyncpg

from api.auth import generate_password
from api.problems import Problem
from api.services.forms import create_form, problem_from_compile_error
from api.services.projects import store_project
from api.services.users import insert_user
from api.settings import Settings
from db import projects, users
from db.pool import session_advisory_lock
from forms.compile import FormCompileError, compile_xlsform_async

log = logging.getLogger("fieldsurvey")
DEFAULT_PROJECT = "Default"


async def ensure_admin(conn: asyncpg.Connection, settings: Settings) -> None:
    if await users.count_admins(conn) > 0:
        return
    email = settings.admin_email or "admin@fieldsurvey.local"
    password = settings.admin_password
    generated = password is None
    if generated:
        password = generate_password()
    async with conn.transaction():
        existing = await users.get_user_by_email(conn, email)
        if existing is not None:
            return
        await insert_user(conn, email, password, display_name="Administrator", is_admin=True)
    if generated:
        # Printed once, never logged or stored in clear.
        print(
            f"fieldsurvey: created administrator {email} with password: {password}\n"
            "fieldsurvey: this password is shown only once; change it or set "
            "FIELDSURVEY_ADMIN_PASSWORD before the first start.",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(f"fieldsurvey: created administrator {email}", file=sys.stderr, flush=True)


async def publish_bundled_forms(
    conn: asyncpg.Connection, settings: Settings, project_id: int
) -> None:
    for path in sorted(settings.bundled_forms_dir.glob("*.xlsx")):
        data = path.read_bytes()
        try:
            compiled = await compile_xlsform_async(data)
        except FormCompileError as exc:
            problem = problem_from_compile_error(exc)
            raise RuntimeError(
                f"bundled form {path.name} does not compile: {problem.detail}"
            ) from exc
        try:
            await create_form(
                conn, None, project_id, compiled, data, publish=True, xlsform_name=path.name
            )
        except Problem as exc:
            if exc.slug != "form-exists":
                raise
        log.info("published bundled form %s version %s", compiled.xml_form_id, compiled.version)


async def ensure_default_project(conn: asyncpg.Connection, settings: Settings) -> None:
    # bootstrap() holds an advisory lock, so two starting processes cannot both create it
    if await projects.projects_by_name(conn, DEFAULT_PROJECT):
        return
    async with conn.transaction():
        project = await store_project(
            conn, DEFAULT_PROJECT, "Bundled questionnaires of fieldsurvey", actor_id=None
        )
        if settings.publish_bundled_forms:
            await publish_bundled_forms(conn, settings, project["id"])


_BOOTSTRAP_LOCK = 7_240_551_002


async def bootstrap(conn: asyncpg.Connection, settings: Settings) -> None:
    """Idempotent; one process at a time (an advisory lock), so parallel starts agree."""
    async with session_advisory_lock(conn, _BOOTSTRAP_LOCK):
        await ensure_admin(conn, settings)
        await ensure_default_project(conn, settings)

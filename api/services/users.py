"""Web users and their project roles, for REST (/v1/users, /v1/projects/.../assignments) and
the admin pages alike. Each function checks permissions with api/auth.py and writes the audit
log in the same transaction as the change."""

from __future__ import annotations

import asyncpg

from api.auth import (
    ROLES,
    Actor,
    authorize,
    check_new_password,
    digest_ha1,
    generate_password,
    hash_password,
    normal_email,
    require_actor,
    require_admin,
)
from api.i18n import N_, known_locale
from api.problems import Problem
from db import audits, projects
from db import users as users_db


async def create_user(
    conn: asyncpg.Connection,
    actor: Actor | None,
    email: str,
    password: str | None,
    *,
    display_name: str | None = None,
    is_admin: bool = False,
) -> asyncpg.Record:
    """A new web user (administrators only); without a password the user cannot log in until
    one is set. Returns the user's row."""
    actor = require_admin(actor)
    email = normal_email(email)
    if password is not None:
        check_new_password(password)  # at least 10 characters, as Central
    try:
        async with conn.transaction():
            row = await insert_user(
                conn, email, password, display_name=display_name, is_admin=is_admin,
                actor_id=actor.id,
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "users_email_unique":
            raise Problem(
                "user-exists", details={"fields": ["email"], "values": [email]}
            ) from exc
        raise
    return await users_db.get_user(conn, row["id"])


async def insert_user(
    conn: asyncpg.Connection, email: str, password: str | None, *,
    display_name: str | None = None, is_admin: bool = False, actor_id: int | None = None,
) -> asyncpg.Record:
    """The one write of a new web user, with its `user.create` audit row, in the caller's
    transaction; who may (create_user: an administrator) is the caller's to check, or it is the
    server itself (first start, the CLI: actor_id None). Administrators get no Digest hash:
    they do not log in from Collect."""
    row = await users_db.create_user(
        conn,
        email,
        hash_password(password) if password else None,
        display_name=(display_name or "").strip() or None,
        is_admin=is_admin,
        digest_ha1=digest_ha1(email, password) if password and not is_admin else None,
    )
    await audits.log_audit(
        conn, actor_id, "user.create", f"user/{row['id']}",
        {"email": row["email"], **({"admin": True} if is_admin else {})},
    )
    return row


async def assign_role(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, role: str, user_id: int
) -> None:
    """Gives a web user a role in a project. Managers may add collectors; other roles need an
    administrator."""
    actor = authorize(actor, "app_user.manage", project_id)
    if role not in ROLES:
        raise Problem("request-invalid", f"role must be one of {', '.join(ROLES)}.")
    if role != "collector" and not actor.is_admin:
        raise Problem("forbidden", "Only an administrator may grant this role.")
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    if await users_db.get_user(conn, user_id) is None:
        raise Problem("user-not-found")
    async with conn.transaction():
        await users_db.assign_role(conn, user_id, project_id, role)
        await audits.log_audit(
            conn, actor.id, "user.assignment.create", f"user/{user_id}",
            {"projectId": project_id, "role": role},
        )


async def unassign_role(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, role: str, user_id: int
) -> None:
    actor = require_admin(actor)
    async with conn.transaction():
        await users_db.unassign_role(conn, user_id, project_id, role)
        await audits.log_audit(
            conn, actor.id, "user.assignment.delete", f"user/{user_id}",
            {"projectId": project_id, "role": role},
        )


async def reset_password(
    conn: asyncpg.Connection, actor: Actor | None, user_id: int, password: str | None = None
) -> str:
    """Sets a user's password (administrators only): the one given, or a generated one, which
    is returned to be handed over once. The user's sessions end."""
    actor = require_admin(actor)
    row = await users_db.get_user(conn, user_id)
    if row is None:
        raise Problem("user-not-found")
    password = password or generate_password()
    check_new_password(password)
    hashed = hash_password(password)
    async with conn.transaction():
        await users_db.set_password_hash(
            conn, user_id, hashed, None if row["is_admin"] else digest_ha1(row["email"], password)
        )
        await conn.execute("DELETE FROM sessions WHERE actor_id = $1", user_id)
        await audits.log_audit(conn, actor.id, "user.password.reset", f"user/{user_id}")
    return password


async def deactivate_user(conn: asyncpg.Connection, actor: Actor | None, user_id: int) -> None:
    """Deactivates a web user (as Central's DELETE /v1/users/:id): they can no longer log in,
    their sessions end. An administrator cannot deactivate themselves or the last administrator."""
    actor = require_admin(actor)
    row = await users_db.get_user(conn, user_id)
    if row is None:
        raise Problem("user-not-found")
    if user_id == actor.id:
        raise Problem("forbidden", "You cannot deactivate your own account.")
    async with conn.transaction():
        if row["is_admin"] and await users_db.lock_and_count_admins(conn) <= 1:
            raise Problem("forbidden", "The last administrator cannot be deactivated.")
        await users_db.deactivate_user(conn, user_id)
        await audits.log_audit(conn, actor.id, "user.delete", f"user/{user_id}",
                               {"email": row["email"]})


# Time zones a user may choose on the account page (the people of this project work in and
# around Tajikistan); the default is Asia/Dushanbe (api/i18n.py DEFAULT_TIME_ZONE).
TIME_ZONES = (
    "Asia/Dushanbe", "Asia/Tashkent", "Asia/Bishkek", "Asia/Almaty", "Asia/Kabul",
    "Asia/Tehran", "Asia/Dubai", "Europe/Istanbul", "Europe/Moscow", "Europe/Berlin",
    "Europe/London", "America/New_York", "UTC",
)


async def set_preferences(
    conn: asyncpg.Connection, actor: Actor | None, locale: str | None, time_zone: str | None
) -> None:
    """A web user's own language (None: not chosen) and time zone for the pages."""
    actor = require_actor(actor)
    if actor.type != "user":
        raise Problem("forbidden", N_("Only a web user has a language and time zone."))
    if locale is not None and known_locale(locale) != locale:
        raise Problem("request-invalid", N_("Unknown language %(locale)s."),
                      params={"locale": repr(locale)})
    if time_zone is not None and time_zone not in TIME_ZONES:
        raise Problem("request-invalid", N_("Unknown time zone %(zone)s."),
                      params={"zone": repr(time_zone)})
    await users_db.set_preferences(conn, actor.id, locale, time_zone)


async def ensure_user_role(
    conn: asyncpg.Connection,
    email: str,
    password: str,
    role: str,
    project_id: int | None,
    *,
    replace_password: bool,
) -> tuple[asyncpg.Record, bool]:
    """The operator at the server (the CLI) creates a web user with `password`, or finds the
    existing one (setting its password when `replace_password`), and gives it `role`: "admin"
    makes a new user an administrator; a project role is granted in `project_id`. One
    transaction with its audit rows. Returns the user's row and whether it was created."""
    if role != "admin" and role not in ROLES:
        raise Problem("request-invalid", f"role must be admin or one of {', '.join(ROLES)}.")
    email = normal_email(email)
    check_new_password(password)
    async with conn.transaction():
        user = await users_db.get_user_by_email(conn, email)
        created = user is None
        if user is None:
            user = await insert_user(conn, email, password, is_admin=role == "admin")
        elif replace_password:
            await users_db.set_password_hash(
                conn,
                user["id"],
                hash_password(password),
                None if user["is_admin"] else digest_ha1(email, password),
            )
        if role != "admin":
            await users_db.assign_role(conn, user["id"], project_id, role)
            await audits.log_audit(
                conn, None, "user.assignment.create", f"user/{user['id']}",
                {"projectId": project_id, "role": role},
            )
    return user, created

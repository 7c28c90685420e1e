"""SQL of actors: web users, app users (field keys), sessions and role assignments."""

from __future__ import annotations

from datetime import datetime

import asyncpg

INSERT_USER = """
WITH actor AS (
    INSERT INTO actors (type, display_name) VALUES ('user', $1) RETURNING id, display_name, created_at
)
INSERT INTO users (actor_id, email, password_hash, is_admin, digest_ha1)
SELECT id, $2, $3, $4, $5 FROM actor
RETURNING actor_id AS id, email, is_admin,
          (SELECT display_name FROM actor) AS display_name,
          (SELECT created_at FROM actor) AS created_at
"""

USER_COLUMNS = """
u.actor_id AS id, u.email, u.password_hash, u.digest_ha1, u.is_admin, a.display_name, a.created_at,
a.updated_at, a.deleted_at, u.locale, u.time_zone
"""
SELECT_USER_BY_EMAIL = f"""
SELECT {USER_COLUMNS} FROM users u JOIN actors a ON a.id = u.actor_id
WHERE u.email = lower($1) AND a.deleted_at IS NULL
"""
SELECT_USER_BY_ID = f"""
SELECT {USER_COLUMNS} FROM users u JOIN actors a ON a.id = u.actor_id
WHERE u.actor_id = $1 AND a.deleted_at IS NULL
"""
SELECT_USERS = f"""
SELECT {USER_COLUMNS} FROM users u JOIN actors a ON a.id = u.actor_id
WHERE a.deleted_at IS NULL ORDER BY u.email
"""
COUNT_ADMINS = "SELECT count(*) FROM users u JOIN actors a ON a.id = u.actor_id WHERE u.is_admin AND a.deleted_at IS NULL"
UPDATE_PREFERENCES = "UPDATE users SET locale = $2, time_zone = $3 WHERE actor_id = $1"
UPDATE_PASSWORD = "UPDATE users SET password_hash = $2, digest_ha1 = $3 WHERE actor_id = $1"

INSERT_SESSION = """
INSERT INTO sessions (token_hash, actor_id, expires_at) VALUES ($1, $2, $3)
RETURNING created_at, expires_at
"""
SELECT_SESSION_ACTOR = """
SELECT s.actor_id, s.expires_at, a.type, a.display_name, coalesce(u.is_admin, false) AS is_admin,
       u.email, u.locale, u.time_zone
FROM sessions s JOIN actors a ON a.id = s.actor_id LEFT JOIN users u ON u.actor_id = a.id
WHERE s.token_hash = $1 AND s.expires_at > now() AND a.deleted_at IS NULL
"""
DELETE_SESSION = "DELETE FROM sessions WHERE token_hash = $1 RETURNING actor_id"
DELETE_EXPIRED_SESSIONS = "DELETE FROM sessions WHERE expires_at <= now()"

DEACTIVATE_USER = """
UPDATE actors SET deleted_at = now(), updated_at = now()
WHERE id = $1 AND type = 'user' AND deleted_at IS NULL RETURNING id
"""
DELETE_SESSIONS_OF = "DELETE FROM sessions WHERE actor_id = $1"
SELECT_ALL_ASSIGNMENTS = """
SELECT a.actor_id, a.project_id, a.role FROM assignments a JOIN users u ON u.actor_id = a.actor_id
ORDER BY a.project_id, a.role
"""

INSERT_ASSIGNMENT = """
INSERT INTO assignments (actor_id, project_id, role) VALUES ($1, $2, $3)
ON CONFLICT ON CONSTRAINT assignments_unique DO NOTHING
"""
DELETE_ASSIGNMENT = "DELETE FROM assignments WHERE actor_id = $1 AND project_id = $2 AND role = $3"
SELECT_ROLES = "SELECT project_id, role FROM assignments WHERE actor_id = $1"

INSERT_FIELD_KEY = """
WITH actor AS (
    INSERT INTO actors (type, display_name) VALUES ('field_key', $1) RETURNING id, display_name, created_at
)
INSERT INTO field_keys (actor_id, project_id, token, created_by, centre)
SELECT id, $2, $3, $4, $5 FROM actor
RETURNING actor_id AS id, project_id, token, created_by, centre,
          (SELECT display_name FROM actor) AS display_name,
          (SELECT created_at FROM actor) AS created_at
"""
FIELD_KEY_COLUMNS = """
f.actor_id AS id, f.project_id, f.token, f.created_by, f.revoked_at, f.centre, a.display_name,
a.created_at,
a.updated_at, a.deleted_at,
ARRAY(SELECT fa.form_id FROM form_assignments fa WHERE fa.actor_id = f.actor_id) AS form_ids
"""
SELECT_FIELD_KEY_BY_TOKEN = f"""
SELECT {FIELD_KEY_COLUMNS} FROM field_keys f JOIN actors a ON a.id = f.actor_id
WHERE f.token = $1 AND f.revoked_at IS NULL AND a.deleted_at IS NULL
"""
SELECT_FIELD_KEY = f"""
SELECT {FIELD_KEY_COLUMNS} FROM field_keys f JOIN actors a ON a.id = f.actor_id
WHERE f.actor_id = $1 AND f.project_id = $2 AND a.deleted_at IS NULL
"""
SELECT_FIELD_KEYS = f"""
SELECT {FIELD_KEY_COLUMNS} FROM field_keys f JOIN actors a ON a.id = f.actor_id
WHERE f.project_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at, f.actor_id
"""
INSERT_FORM_ASSIGNMENT = """
INSERT INTO form_assignments (actor_id, form_id) VALUES ($1, $2)
ON CONFLICT ON CONSTRAINT form_assignments_pk DO NOTHING
"""
DELETE_FORM_ASSIGNMENT = "DELETE FROM form_assignments WHERE actor_id = $1 AND form_id = $2"
SELECT_FORM_ASSIGNMENTS = """
SELECT fa.actor_id, fa.form_id, fa.created_at FROM form_assignments fa WHERE fa.form_id = $1
ORDER BY fa.actor_id
"""

# Central's "revoke access" (DELETE /v1/sessions/:token of an app user): the token stops
# working, the app user stays listed without one.
REVOKE_FIELD_KEY_ACCESS = """
UPDATE field_keys SET revoked_at = now()
WHERE actor_id = $1 AND project_id = $2 AND revoked_at IS NULL
  AND EXISTS (SELECT 1 FROM actors a WHERE a.id = $1 AND a.deleted_at IS NULL)
RETURNING actor_id
"""
# Central's DELETE /v1/projects/:id/app-users/:id: the app user is gone.
REVOKE_FIELD_KEY = """
WITH revoked AS (
    UPDATE field_keys SET revoked_at = now() WHERE actor_id = $1 AND project_id = $2
    RETURNING actor_id
)
UPDATE actors SET deleted_at = now() WHERE id IN (SELECT actor_id FROM revoked) RETURNING id
"""


async def create_user(
    conn: asyncpg.Connection,
    email: str,
    password_hash: str | None,
    *,
    display_name: str | None = None,
    is_admin: bool = False,
    digest_ha1: str | None = None,
) -> asyncpg.Record:
    email = email.strip().lower()
    return await conn.fetchrow(
        INSERT_USER, display_name or email, email, password_hash, is_admin, digest_ha1
    )


async def get_user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_USER_BY_EMAIL, email.strip())


async def get_user(conn: asyncpg.Connection, actor_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_USER_BY_ID, actor_id)


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_USERS)


async def count_admins(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(COUNT_ADMINS)


_ADMINS_LOCK = 72_405_520  # advisory lock (one key): one change of who is an administrator


async def lock_and_count_admins(conn: asyncpg.Connection) -> int:
    """The active administrators, counted under a transaction-level advisory lock held until
    the caller's transaction ends: two admins deactivating each other at once are one after
    the other, and the second sees that the first left one administrator."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADMINS_LOCK)
    return await conn.fetchval(COUNT_ADMINS)


async def set_password_hash(
    conn: asyncpg.Connection, actor_id: int, password_hash: str, digest_ha1: str | None
) -> None:
    await conn.execute(UPDATE_PASSWORD, actor_id, password_hash, digest_ha1)


async def set_preferences(
    conn: asyncpg.Connection, actor_id: int, locale: str | None, time_zone: str | None
) -> None:
    """A web user's language and time zone for the pages (None: not chosen)."""
    await conn.execute(UPDATE_PREFERENCES, actor_id, locale, time_zone)


async def create_session(
    conn: asyncpg.Connection, token_hash: bytes, actor_id: int, expires_at: datetime
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_SESSION, token_hash, actor_id, expires_at)


async def delete_expired_sessions(conn: asyncpg.Connection) -> int:
    """Removes the sessions past their expiry; returns how many."""
    status = await conn.execute(DELETE_EXPIRED_SESSIONS)
    return int(status.split()[-1])


async def get_session_actor(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_SESSION_ACTOR, token_hash)


async def delete_session(conn: asyncpg.Connection, token_hash: bytes) -> int | None:
    return await conn.fetchval(DELETE_SESSION, token_hash)


async def assign_role(conn: asyncpg.Connection, actor_id: int, project_id: int, role: str) -> None:
    await conn.execute(INSERT_ASSIGNMENT, actor_id, project_id, role)


async def unassign_role(
    conn: asyncpg.Connection, actor_id: int, project_id: int, role: str
) -> None:
    await conn.execute(DELETE_ASSIGNMENT, actor_id, project_id, role)


async def roles_of_actor(conn: asyncpg.Connection, actor_id: int) -> dict[int, frozenset[str]]:
    roles: dict[int, set[str]] = {}
    for row in await conn.fetch(SELECT_ROLES, actor_id):
        roles.setdefault(row["project_id"], set()).add(row["role"])
    return {pid: frozenset(r) for pid, r in roles.items()}


async def create_field_key(
    conn: asyncpg.Connection, display_name: str, project_id: int, token: str,
    created_by: int | None, centre: str | None = None,
) -> asyncpg.Record:
    """A new app user (`centre`: the support centre whose cases its phone gets; None: all)."""
    return await conn.fetchrow(INSERT_FIELD_KEY, display_name, project_id, token, created_by,
                               centre)


UPDATE_FIELD_KEY_CENTRE = """
UPDATE field_keys SET centre = $3 WHERE actor_id = $1 AND project_id = $2 AND revoked_at IS NULL
RETURNING actor_id
"""


async def set_field_key_centre(
    conn: asyncpg.Connection, actor_id: int, project_id: int, centre: str | None
) -> bool:
    return await conn.fetchval(UPDATE_FIELD_KEY_CENTRE, actor_id, project_id, centre) is not None


async def get_field_key_by_token(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FIELD_KEY_BY_TOKEN, token)


async def get_field_key(
    conn: asyncpg.Connection, actor_id: int, project_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FIELD_KEY, actor_id, project_id)


async def list_field_keys(conn: asyncpg.Connection, project_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FIELD_KEYS, project_id)


async def revoke_field_key(conn: asyncpg.Connection, actor_id: int, project_id: int) -> bool:
    return await conn.fetchval(REVOKE_FIELD_KEY, actor_id, project_id) is not None


async def revoke_field_key_access(conn: asyncpg.Connection, actor_id: int, project_id: int) -> bool:
    return await conn.fetchval(REVOKE_FIELD_KEY_ACCESS, actor_id, project_id) is not None


async def assign_form(conn: asyncpg.Connection, actor_id: int, form_id: int) -> None:
    await conn.execute(INSERT_FORM_ASSIGNMENT, actor_id, form_id)


async def unassign_form(conn: asyncpg.Connection, actor_id: int, form_id: int) -> bool:
    return (await conn.execute(DELETE_FORM_ASSIGNMENT, actor_id, form_id)) != "DELETE 0"


async def list_form_assignments(conn: asyncpg.Connection, form_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FORM_ASSIGNMENTS, form_id)


async def deactivate_user(conn: asyncpg.Connection, actor_id: int) -> bool:
    """Marks a web user deleted (as Central's DELETE /v1/users/:id) and ends their sessions."""
    done = await conn.fetchval(DEACTIVATE_USER, actor_id)
    await conn.execute(DELETE_SESSIONS_OF, actor_id)
    return done is not None


async def delete_sessions_of(conn: asyncpg.Connection, actor_id: int) -> None:
    """Ends every session of the actor."""
    await conn.execute(DELETE_SESSIONS_OF, actor_id)


async def all_assignments(conn: asyncpg.Connection) -> dict[int, dict[int, set[str]]]:
    """Web users' roles: user id -> project id -> roles."""
    out: dict[int, dict[int, set[str]]] = {}
    for row in await conn.fetch(SELECT_ALL_ASSIGNMENTS):
        out.setdefault(row["actor_id"], {}).setdefault(row["project_id"], set()).add(row["role"])
    return out

"""SQL of public access links (table public_links; each link is an actor, as in ODK Central)."""

from __future__ import annotations

import asyncpg

INSERT_PUBLIC_LINK = """
WITH actor AS (
    INSERT INTO actors (type, display_name) VALUES ('public_link', $1)
    RETURNING id, display_name, created_at
)
INSERT INTO public_links (actor_id, form_id, once, token, created_by)
SELECT id, $2, $3, $4, $5 FROM actor
RETURNING actor_id AS id, form_id, once, token, created_by, revoked_at,
          (SELECT display_name FROM actor) AS display_name,
          (SELECT created_at FROM actor) AS created_at,
          NULL::timestamptz AS updated_at, NULL::timestamptz AS deleted_at
"""
LINK_COLUMNS = """
p.actor_id AS id, p.form_id, p.once, p.token, p.created_by, p.revoked_at, a.display_name,
a.created_at, a.updated_at, a.deleted_at, f.project_id, f.xml_form_id,
c.display_name AS created_by_name
"""
LINK_FROM = """
FROM public_links p JOIN actors a ON a.id = p.actor_id JOIN forms f ON f.id = p.form_id
LEFT JOIN actors c ON c.id = p.created_by
"""
# Central lists live links first, newest first, then the revoked ones.
SELECT_LINKS_OF_FORM = f"""
SELECT {LINK_COLUMNS} {LINK_FROM}
WHERE p.form_id = $1 AND a.deleted_at IS NULL
ORDER BY (p.revoked_at IS NULL) DESC, a.created_at DESC, p.actor_id DESC
"""
SELECT_LINK = f"""
SELECT {LINK_COLUMNS} {LINK_FROM}
WHERE p.form_id = $1 AND p.actor_id = $2 AND a.deleted_at IS NULL
"""
# Revoked links are found too, so that their page can say the link was revoked.
SELECT_LINK_BY_TOKEN = f"""
SELECT {LINK_COLUMNS} {LINK_FROM}
WHERE p.token = $1
"""
# Central deletes the link's actor: it leaves the list, and its token stops working.
REVOKE_LINK = """
WITH revoked AS (
    UPDATE public_links SET revoked_at = now()
    WHERE form_id = $1 AND actor_id = $2 AND revoked_at IS NULL
    RETURNING actor_id
)
UPDATE actors SET deleted_at = now() FROM revoked WHERE actors.id = revoked.actor_id
RETURNING actors.id
"""


async def create_public_link(
    conn: asyncpg.Connection, form_id: int, display_name: str, once: bool, token: str,
    created_by: int | None,
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_PUBLIC_LINK, display_name, form_id, once, token, created_by)


async def list_public_links(conn: asyncpg.Connection, form_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_LINKS_OF_FORM, form_id)


async def get_public_link(
    conn: asyncpg.Connection, form_id: int, link_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_LINK, form_id, link_id)


async def get_public_link_by_token(conn: asyncpg.Connection, token: str) -> asyncpg.Record | None:
    """The link with this token, revoked or not (the caller tells the two apart)."""
    return await conn.fetchrow(SELECT_LINK_BY_TOKEN, token)


async def revoke_public_link(conn: asyncpg.Connection, form_id: int, link_id: int) -> bool:
    return await conn.fetchval(REVOKE_LINK, form_id, link_id) is not None


# One respondent's claim on a once-only link (migration 0024): the instance it claimed for, or
# NULL when another transaction holds or just committed the claim (the statement's snapshot does
# not see a row committed while ON CONFLICT waited for it).
CLAIM_RESPONDENT = """
WITH claimed AS (
    INSERT INTO public_link_respondents (link_id, respondent, instance_id) VALUES ($1, $2, $3)
    ON CONFLICT (link_id, respondent) DO NOTHING
    RETURNING instance_id
)
SELECT COALESCE((SELECT instance_id FROM claimed),
                (SELECT instance_id FROM public_link_respondents
                 WHERE link_id = $1 AND respondent = $2))
"""
RESPONDENT_USED = """
SELECT EXISTS (SELECT 1 FROM public_link_respondents WHERE link_id = $1 AND respondent = $2)
"""


async def claim_respondent(
    conn: asyncpg.Connection, link_id: int, respondent: str, instance_id: str
) -> bool:
    """Claims a once-only link for one respondent inside the caller's transaction; True when
    the respondent already sent another submission (a resend of the same one is a duplicate,
    not a second). Parallel claims wait for each other on the key: exactly one wins."""
    claimed = await conn.fetchval(CLAIM_RESPONDENT, link_id, respondent, instance_id)
    return claimed != instance_id


async def respondent_used(conn: asyncpg.Connection, link_id: int, respondent: str) -> bool:
    return bool(await conn.fetchval(RESPONDENT_USED, link_id, respondent))

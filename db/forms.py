"""SQL of forms, their versions (form_defs) and form attachments."""

from __future__ import annotations

import asyncpg

FORM_COLUMNS = """
f.id, f.project_id, f.xml_form_id, f.state, f.created_at, f.updated_at,
f.current_def_id, f.draft_def_id,
d.version, d.title, d.md5, d.published_at, d.xlsform_name,
dd.version AS draft_version, dd.md5 AS draft_md5, dd.title AS draft_title
"""
FORM_FROM = """
FROM forms f
LEFT JOIN form_defs d ON d.id = f.current_def_id
LEFT JOIN form_defs dd ON dd.id = f.draft_def_id
"""

SELECT_FORMS = f"""
SELECT {FORM_COLUMNS} {FORM_FROM}
WHERE f.project_id = $1 AND f.deleted_at IS NULL
ORDER BY coalesce(d.title, dd.title), f.xml_form_id
"""
SELECT_FORM = f"""
SELECT {FORM_COLUMNS} {FORM_FROM}
WHERE f.project_id = $1 AND f.xml_form_id = $2 AND f.deleted_at IS NULL
"""
SELECT_FORM_FOR_UPDATE = """
SELECT id, project_id, state, current_def_id, draft_def_id FROM forms
WHERE project_id = $1 AND xml_form_id = $2 AND deleted_at IS NULL
FOR UPDATE
"""

INSERT_FORM = """
INSERT INTO forms (project_id, xml_form_id) VALUES ($1, $2) RETURNING id
"""

INSERT_DRAFT_DEF = """
WITH def AS (
    INSERT INTO form_defs (form_id, version, title, xlsform, xlsform_name, xform, md5)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id, form_id
)
UPDATE forms SET draft_def_id = def.id, updated_at = now()
FROM def WHERE forms.id = def.form_id
RETURNING forms.draft_def_id
"""

COPY_CURRENT_TO_DRAFT = """
WITH def AS (
    INSERT INTO form_defs (form_id, version, title, xlsform, xlsform_name, xform, md5)
    SELECT form_id, version, title, xlsform, xlsform_name, xform, md5
    FROM form_defs WHERE id = $2
    RETURNING id, form_id
), files AS (
    INSERT INTO form_attachments (form_def_id, name, content_type, content, md5)
    SELECT def.id, a.name, a.content_type, a.content, a.md5
    FROM form_attachments a, def WHERE a.form_def_id = $2
)
UPDATE forms SET draft_def_id = def.id, updated_at = now()
FROM def WHERE forms.id = $1
RETURNING forms.draft_def_id
"""

SELECT_DEF = """
SELECT id, form_id, version, title, xlsform, xlsform_name, xform, md5, created_at, published_at
FROM form_defs WHERE id = $1
"""
SELECT_PUBLISHED_DEF_BY_VERSION = """
SELECT d.id, d.form_id, d.version, d.title, d.xform, d.md5, d.published_at
FROM form_defs d WHERE d.form_id = $1 AND d.version = $2 AND d.published_at IS NOT NULL
"""
SELECT_PUBLISHED_DEFS = """
SELECT d.id, d.version, d.title, d.xform, d.md5, d.published_at
FROM form_defs d WHERE d.form_id = $1 AND d.published_at IS NOT NULL
ORDER BY d.published_at, d.id
"""

PUBLISH_DRAFT = """
WITH def AS (
    UPDATE form_defs SET published_at = now(), version = $2, xform = $3, md5 = $4
    WHERE id = $1 RETURNING id, form_id
)
UPDATE forms SET current_def_id = def.id, draft_def_id = NULL, updated_at = now()
FROM def WHERE forms.id = def.form_id
RETURNING forms.id, forms.current_def_id
"""

UPDATE_FORM_STATE = """
UPDATE forms SET state = $3, updated_at = now()
WHERE project_id = $1 AND xml_form_id = $2 AND deleted_at IS NULL
RETURNING id
"""

UPSERT_FORM_ATTACHMENT = """
INSERT INTO form_attachments (form_def_id, name, content_type, content, md5)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT form_attachments_pk
DO UPDATE SET content_type = EXCLUDED.content_type, content = EXCLUDED.content,
              md5 = EXCLUDED.md5, updated_at = now()
"""
INSERT_EXPECTED_ATTACHMENT = """
INSERT INTO form_attachments (form_def_id, name, content_type)
VALUES ($1, $2, $3)
ON CONFLICT ON CONSTRAINT form_attachments_pk DO NOTHING
"""
CARRY_OVER_ATTACHMENTS = """
UPDATE form_attachments new
SET content = old.content, content_type = old.content_type, md5 = old.md5, updated_at = now()
FROM form_attachments old
WHERE new.form_def_id = $1 AND old.form_def_id = $2 AND old.name = new.name
  AND new.content IS NULL AND old.content IS NOT NULL
"""
SELECT_FORM_ATTACHMENTS = """
SELECT name, content_type, md5, updated_at,
       content IS NOT NULL OR dataset_id IS NOT NULL AS exists, dataset_id
FROM form_attachments WHERE form_def_id = $1 ORDER BY name
"""
SELECT_READS_ENTITY_LIST = """
SELECT EXISTS (SELECT 1 FROM form_attachments WHERE form_def_id = $1 AND dataset_id IS NOT NULL)
"""
SELECT_FORM_ATTACHMENT = """
SELECT name, content_type, content, md5, dataset_id FROM form_attachments
WHERE form_def_id = $1 AND name = $2
"""


async def list_forms(conn: asyncpg.Connection, project_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FORMS, project_id)


async def get_form(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FORM, project_id, xml_form_id)


async def lock_form(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FORM_FOR_UPDATE, project_id, xml_form_id)


async def create_form_with_draft(
    conn: asyncpg.Connection,
    project_id: int,
    xml_form_id: str,
    *,
    version: str,
    title: str,
    xlsform: bytes | None,
    xlsform_name: str | None,
    xform: str,
    md5: str,
) -> dict:
    """Two statements (a CTE cannot update the row it inserts); run inside a transaction."""
    form_id = await conn.fetchval(INSERT_FORM, project_id, xml_form_id)
    draft_def_id = await create_draft(
        conn,
        form_id,
        version=version,
        title=title,
        xlsform=xlsform,
        xlsform_name=xlsform_name,
        xform=xform,
        md5=md5,
    )
    return {"id": form_id, "draft_def_id": draft_def_id}


async def create_draft(
    conn: asyncpg.Connection,
    form_id: int,
    *,
    version: str,
    title: str,
    xlsform: bytes | None,
    xlsform_name: str | None,
    xform: str,
    md5: str,
) -> int:
    return await conn.fetchval(
        INSERT_DRAFT_DEF, form_id, version, title, xlsform, xlsform_name, xform, md5
    )


async def copy_current_to_draft(conn: asyncpg.Connection, form_id: int, current_def_id: int) -> int:
    return await conn.fetchval(COPY_CURRENT_TO_DRAFT, form_id, current_def_id)


async def get_def(conn: asyncpg.Connection, def_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_DEF, def_id)


async def get_published_def(
    conn: asyncpg.Connection, form_id: int, version: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PUBLISHED_DEF_BY_VERSION, form_id, version)


async def list_published_defs(conn: asyncpg.Connection, form_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PUBLISHED_DEFS, form_id)


async def publish_draft(
    conn: asyncpg.Connection, draft_def_id: int, *, version: str, xform: str, md5: str
) -> asyncpg.Record:
    """Publish; raises asyncpg.UniqueViolationError (form_defs_published_version_unique)
    when that version was already published."""
    return await conn.fetchrow(PUBLISH_DRAFT, draft_def_id, version, xform, md5)


async def set_form_state(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, state: str
) -> int | None:
    return await conn.fetchval(UPDATE_FORM_STATE, project_id, xml_form_id, state)


async def expect_form_attachment(
    conn: asyncpg.Connection, def_id: int, name: str, content_type: str
) -> None:
    await conn.execute(INSERT_EXPECTED_ATTACHMENT, def_id, name, content_type)


async def put_form_attachment(
    conn: asyncpg.Connection, def_id: int, name: str, content_type: str, content: bytes, md5: str
) -> None:
    await conn.execute(UPSERT_FORM_ATTACHMENT, def_id, name, content_type, content, md5)


async def list_form_attachments(conn: asyncpg.Connection, def_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FORM_ATTACHMENTS, def_id)


async def reads_entity_list(conn: asyncpg.Connection, def_id: int) -> bool:
    """Whether the form version reads an entity list (a `{list}.csv` it is served)."""
    return await conn.fetchval(SELECT_READS_ENTITY_LIST, def_id)


async def get_form_attachment(
    conn: asyncpg.Connection, def_id: int, name: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FORM_ATTACHMENT, def_id, name)


async def carry_over_attachments(conn: asyncpg.Connection, new_def_id: int, old_def_id: int) -> None:
    """A new draft keeps the files of the published version that it still names."""
    await conn.execute(CARRY_OVER_ATTACHMENTS, new_def_id, old_def_id)


SELECT_FORM_VERSIONS = """
SELECT d.id, d.version, d.title, d.md5, d.created_at, d.published_at, d.xlsform_name,
       d.xlsform IS NOT NULL AS has_xlsform
FROM form_defs d WHERE d.form_id = $1
ORDER BY d.published_at NULLS LAST, d.id
"""


async def list_form_versions(conn: asyncpg.Connection, form_id: int) -> list[asyncpg.Record]:
    """Every version of a form (published ones in publishing order, then drafts), without the
    definitions themselves."""
    return await conn.fetch(SELECT_FORM_VERSIONS, form_id)


async def get_xform(conn: asyncpg.Connection, def_id: int) -> str | None:
    """Only the XForm of a version (not its XLSForm bytes)."""
    return await conn.fetchval("SELECT xform FROM form_defs WHERE id = $1", def_id)

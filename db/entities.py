"""SQL of entity lists (datasets), their properties and form links, entities and their
versions (entity_defs), and the backlog of offline updates held for their predecessor."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.scopes import RowScope, entity_scope_sql
from db.submissions import NEW_SUBMISSION_CTES, NEW_SUBMISSION_PARAMS

# ---------------------------------------------------------------------------------------------
# Datasets

DATASET_COLUMNS = "d.id, d.project_id, d.name, d.approval_required, d.created_at, d.updated_at"

INSERT_DATASET = """
INSERT INTO datasets (project_id, name, approval_required) VALUES ($1, $2, $3)
RETURNING id, project_id, name, approval_required, created_at, updated_at
"""
SELECT_DATASET = f"""
SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.project_id = $1 AND d.name = $2
"""
SELECT_DATASET_NAME = "SELECT name FROM datasets WHERE id = $1"
SELECT_DATASET_CASELESS = f"""
SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.project_id = $1 AND lower(d.name) = lower($2)
"""
SELECT_DATASETS = f"""
SELECT {DATASET_COLUMNS},
       (SELECT count(*) FROM entities e
        WHERE e.dataset_id = d.id AND e.deleted_at IS NULL AND {{scope}}) AS entities,
       (SELECT max(greatest(e.created_at, e.updated_at)) FROM entities e
        WHERE e.dataset_id = d.id AND e.deleted_at IS NULL AND {{scope}}) AS last_entity,
       (SELECT count(*) FROM entities e
        WHERE e.dataset_id = d.id AND e.deleted_at IS NULL AND e.conflict IS NOT NULL
          AND {{scope}}) AS conflicts
FROM datasets d WHERE d.project_id = $1 ORDER BY d.name
"""
UPDATE_APPROVAL_REQUIRED = """
UPDATE datasets SET approval_required = $2, updated_at = clock_timestamp() WHERE id = $1
RETURNING id, project_id, name, approval_required, created_at, updated_at
"""
INSERT_PROPERTY = """
INSERT INTO dataset_properties (dataset_id, name) VALUES ($1, $2)
ON CONFLICT ON CONSTRAINT dataset_properties_dataset_name_unique DO NOTHING
RETURNING id
"""
SELECT_PROPERTY_ID = "SELECT id FROM dataset_properties WHERE dataset_id = $1 AND name = $2"
SELECT_PROPERTIES = """
SELECT p.id, p.name, p.created_at,
       coalesce(
           (SELECT jsonb_agg(DISTINCT jsonb_build_object('xmlFormId', f.xml_form_id, 'name', fd.title))
            FROM dataset_property_fields pf
            JOIN forms f ON f.current_def_id = pf.form_def_id AND f.deleted_at IS NULL
            JOIN form_defs fd ON fd.id = f.current_def_id
            WHERE pf.property_id = p.id),
           '[]'::jsonb) AS forms
FROM dataset_properties p WHERE p.dataset_id = $1 ORDER BY p.id
"""
INSERT_FORM_DEF_LINK = """
INSERT INTO dataset_form_defs (dataset_id, form_def_id, actions) VALUES ($1, $2, $3)
ON CONFLICT ON CONSTRAINT dataset_form_defs_pk DO UPDATE SET actions = EXCLUDED.actions
"""
INSERT_PROPERTY_FIELD = """
INSERT INTO dataset_property_fields (property_id, form_def_id, path) VALUES ($1, $2, $3)
ON CONFLICT ON CONSTRAINT dataset_property_fields_pk DO NOTHING
"""
# Which field of which published form version saves to each property (the pages take the
# properties' labels from those fields), newest form version first.
SELECT_PROPERTY_FIELDS = """
SELECT p.name, pf.form_def_id, pf.path FROM dataset_properties p
JOIN dataset_property_fields pf ON pf.property_id = p.id
JOIN forms f ON f.current_def_id = pf.form_def_id AND f.deleted_at IS NULL
WHERE p.dataset_id = $1 ORDER BY p.id, pf.form_def_id DESC
"""
SELECT_FORM_DEF_DATASETS = f"""
SELECT {DATASET_COLUMNS}, l.actions
FROM dataset_form_defs l JOIN datasets d ON d.id = l.dataset_id
WHERE l.form_def_id = $1
"""
# Forms whose published version writes to the dataset, and forms whose published version
# reads it as {name}.csv.
SELECT_SOURCE_FORMS = """
SELECT f.xml_form_id, fd.title FROM dataset_form_defs l
JOIN forms f ON f.current_def_id = l.form_def_id AND f.deleted_at IS NULL
JOIN form_defs fd ON fd.id = f.current_def_id
WHERE l.dataset_id = $1 ORDER BY f.xml_form_id
"""
SELECT_LINKED_FORMS = """
SELECT f.id AS form_id, f.xml_form_id, fd.title FROM form_attachments a
JOIN forms f ON f.current_def_id = a.form_def_id AND f.deleted_at IS NULL
JOIN form_defs fd ON fd.id = f.current_def_id
WHERE a.dataset_id = $1 ORDER BY f.xml_form_id
"""
# A form version's attachment {name}.csv that has no file uploaded is served from the
# project's dataset of that name.
LINK_ATTACHMENTS = """
UPDATE form_attachments a SET dataset_id = d.id, content_type = 'text/csv',
       updated_at = clock_timestamp()
FROM datasets d
WHERE a.form_def_id = $1 AND d.project_id = $2 AND a.name = d.name || '.csv'
  AND a.content IS NULL AND a.dataset_id IS NULL
RETURNING a.name
"""
SELECT_ATTACHMENT_DATASET = """
SELECT d.id, d.project_id, d.name, d.approval_required
FROM form_attachments a JOIN datasets d ON d.id = a.dataset_id
WHERE a.form_def_id = $1 AND a.name = $2
"""
SELECT_ATTACHMENT_DATASETS = """
SELECT a.name, d.id, d.name AS dataset_name, d.approval_required
FROM form_attachments a JOIN datasets d ON d.id = a.dataset_id
WHERE a.form_def_id = $1
"""
# What the served {name}.csv depends on: any entity created, updated, deleted or restored,
# and the dataset's properties (the CSV's columns).
SELECT_DATASET_STATE = """
SELECT (SELECT count(*) FROM entities e
        WHERE e.dataset_id = $1 AND e.deleted_at IS NULL AND {scope}) AS entities,
       (SELECT max(greatest(e.created_at, e.updated_at, e.deleted_at)) FROM entities e
        WHERE e.dataset_id = $1 AND {scope}) AS last_change,
       (SELECT string_agg(p.name, ',' ORDER BY p.id) FROM dataset_properties p
        WHERE p.dataset_id = $1) AS properties
"""

# ---------------------------------------------------------------------------------------------
# Entities

ENTITY_COLUMNS = """
e.id, e.dataset_id, e.uuid::text AS uuid, e.creator_id, e.created_at, e.updated_at,
e.deleted_at, e.conflict,
v.id AS def_id, v.version, v.base_version, v.label, v.data, v.creator_id AS def_creator_id,
v.user_agent, v.created_at AS def_created_at, v.conflicting_properties,
v.branch_id::text AS branch_id, v.trunk_version, v.branch_base_version,
(SELECT count(*) - 1 FROM entity_defs c WHERE c.entity_id = e.id) AS updates,
ca.display_name AS creator_name, ca.type AS creator_type, ca.created_at AS creator_created_at
"""
ENTITY_FROM = """
FROM entities e
JOIN entity_defs v ON v.entity_id = e.id AND v.current
LEFT JOIN actors ca ON ca.id = e.creator_id
"""
SELECT_ENTITY = f"""
SELECT {ENTITY_COLUMNS} {ENTITY_FROM}
WHERE e.dataset_id = $1 AND e.uuid = $2::uuid AND (e.deleted_at IS NOT NULL) = $3 AND {{scope}}
"""
SELECT_ENTITY_ANY_DATASET = """
SELECT e.id, e.dataset_id, e.deleted_at FROM entities e WHERE e.uuid = $1::uuid
"""
SELECT_ENTITIES = f"""
SELECT {ENTITY_COLUMNS} {ENTITY_FROM}
WHERE e.dataset_id = $1 AND (e.deleted_at IS NOT NULL) = $2 AND {{scope}}
ORDER BY e.created_at DESC, e.id DESC
"""
SELECT_ENTITIES_PAGE = f"""
SELECT {ENTITY_COLUMNS} {ENTITY_FROM}
WHERE e.dataset_id = $1 AND e.deleted_at IS NULL AND {{scope}}
ORDER BY e.created_at, e.id
LIMIT $2 OFFSET $3
"""
# A list's live entities whose current data holds every given property value ($2, a JSON
# object; {} is any) and whose label contains $3 (case-insensitive; NULL is any): a page of
# them newest first, and how many there are.
_MATCHING = """
WHERE e.dataset_id = $1 AND e.deleted_at IS NULL AND v.data @> $2::jsonb
  AND ($3::text IS NULL OR strpos(lower(v.label), lower($3)) > 0) AND {scope}
"""
SEARCH_ENTITIES = f"""
SELECT {ENTITY_COLUMNS} {ENTITY_FROM} {_MATCHING}
ORDER BY e.created_at DESC, e.id DESC
LIMIT $4 OFFSET $5
"""
COUNT_MATCHING_ENTITIES = f"SELECT count(*) {ENTITY_FROM} {_MATCHING}"
# The current properties of every entity of a list (what summaries count; no uuid, no label).
SELECT_CURRENT_DATA = """
SELECT e.uuid::text AS uuid, v.data FROM datasets d
JOIN entities e ON e.dataset_id = d.id AND e.deleted_at IS NULL
JOIN entity_defs v ON v.entity_id = e.id AND v.current
WHERE d.project_id = $1 AND d.name = $2
"""
COUNT_ENTITIES = """
SELECT count(*) FROM entities e WHERE e.dataset_id = $1 AND e.deleted_at IS NULL AND {scope}
"""
SELECT_ENTITY_STATES = """
SELECT e.uuid::text AS uuid, e.deleted_at IS NOT NULL AS deleted
FROM entities e
WHERE e.dataset_id = $1 AND ($2::uuid[] IS NULL OR e.uuid = ANY ($2::uuid[])) AND {scope}
ORDER BY e.id
"""


def _scoped(sql: str, args: list, scope: RowScope) -> str:
    """`sql` with its `{scope}` condition: the entities of `scope` (db/scopes.py), whose values
    are appended to `args` as $n parameters; `true` when the scope is no limit."""
    return sql.replace("{scope}", entity_scope_sql(scope, args) or "true")
# Entity uuids are locked before they are read or written (they may not exist yet: an
# offline update may arrive before its creation), as Central does with an advisory lock.
LOCK_ENTITY_UUID = "SELECT pg_advisory_xact_lock(('x' || substr(md5($1::text), 1, 15))::bit(60)::bigint)"

_DEF_INSERT_COLUMNS = """
entity_id, version, base_version, trunk_version, branch_id, branch_base_version, root, current,
label, data, data_received, conflicting_properties, creator_id, user_agent, source_type,
source_details, submission_id, submission_version_id
"""
# Nothing is inserted (no row returned) when the uuid is taken, or when $15 and the dataset
# requires approval: the caller then finds out which.
INSERT_ENTITY = f"""
WITH ent AS (
    INSERT INTO entities (dataset_id, uuid, creator_id)
    SELECT $1, $2::uuid, $3
    WHERE NOT ($15::boolean AND (SELECT approval_required FROM datasets WHERE id = $1))
    ON CONFLICT ON CONSTRAINT entities_uuid_unique DO NOTHING
    RETURNING id
), def AS (
    INSERT INTO entity_defs ({_DEF_INSERT_COLUMNS})
    SELECT ent.id, 1, NULL, $4, $5::uuid, $6, true, true, $7, $8, $9, NULL, $3, $10, $11, $12,
           $13, $14
    FROM ent
    RETURNING id, entity_id
), logged AS (
    -- the entity.create audit, in the same statement (one round trip fewer per intake)
    INSERT INTO audits (actor_id, action, acted_on, details)
    SELECT $3, 'entity.create', $16,
           $17::jsonb || jsonb_build_object('entityId', def.entity_id, 'entityDefId', def.id)
    FROM def WHERE $16::text IS NOT NULL
)
SELECT entity_id AS id, id AS def_id FROM def
"""
INSERT_ENTITIES_BULK = f"""
WITH rows AS (
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::jsonb[]) AS r(uuid, label, data)
), ent AS (
    INSERT INTO entities (dataset_id, uuid, creator_id)
    SELECT $1, r.uuid, $5 FROM rows r
    RETURNING id, uuid
)
INSERT INTO entity_defs ({_DEF_INSERT_COLUMNS})
SELECT ent.id, 1, NULL, NULL, NULL, NULL, true, true, r.label, r.data,
       r.data || jsonb_build_object('label', r.label), NULL, $5, $6, 'bulk', $7, NULL, NULL
FROM ent JOIN rows r ON r.uuid = ent.uuid
"""
# A new current version: the old one stops being current first (the insert reads from that
# update, so the one-current index never sees two).
INSERT_VERSION = f"""
WITH old AS (
    UPDATE entity_defs SET current = false WHERE entity_id = $1 AND current RETURNING entity_id
), def AS (
    INSERT INTO entity_defs ({_DEF_INSERT_COLUMNS})
    SELECT old.entity_id, $2, $3, $4, $5::uuid, $6, false, true, $7, $8, $9, $10, $11, $12, $13,
           $14, $15, $16
    FROM old
    RETURNING id
), ent AS (
    UPDATE entities SET updated_at = clock_timestamp(), conflict = $17 WHERE id = $1
    RETURNING id
)
SELECT def.id FROM def, ent
"""
# A new submission and the one entity it creates, in one statement (so one round trip and
# one commit, like a submission without entities): the submission's own CTEs, then the entity,
# its first version and its entity.create audit. The entity is not inserted when its uuid is
# taken or its dataset requires approval (entity_id is then NULL); nothing at all is inserted
# when the instanceID exists (no row).
_P = NEW_SUBMISSION_PARAMS
INSERT_SUBMISSION_WITH_ENTITY = NEW_SUBMISSION_CTES + f"""
, new_entity AS (
    INSERT INTO entities (dataset_id, uuid, creator_id)
    SELECT ${_P + 1}, ${_P + 2}::uuid, $3 FROM ver
    WHERE NOT (SELECT approval_required FROM datasets WHERE id = ${_P + 1})
    ON CONFLICT ON CONSTRAINT entities_uuid_unique DO NOTHING
    RETURNING id
), new_def AS (
    INSERT INTO entity_defs ({_DEF_INSERT_COLUMNS})
    SELECT e.id, 1, NULL, NULL, ${_P + 6}::uuid, NULL, true, true, ${_P + 3}, ${_P + 4},
           ${_P + 5}, NULL, $3, $10, 'submission', ${_P + 7}, ver.submission_id, ver.id
    FROM new_entity e, ver
    RETURNING id, entity_id
), new_entity_audit AS (
    INSERT INTO audits (actor_id, action, acted_on, details)
    SELECT $3, 'entity.create', ${_P + 8},
           ${_P + 9}::jsonb || jsonb_build_object(
               'entityId', d.entity_id, 'entityDefId', d.id,
               'submissionId', ver.submission_id, 'submissionDefId', ver.id)
    FROM new_def d, ver
)
SELECT ver.submission_id, ver.id AS version_id, (SELECT entity_id FROM new_def) AS entity_id
FROM ver
"""
SELECT_DEF_BY_VERSION = """
SELECT id, version, label, data FROM entity_defs WHERE entity_id = $1 AND version = $2
"""
SELECT_DEF_IN_BRANCH = """
SELECT id, version, label, data FROM entity_defs
WHERE entity_id = $1 AND branch_id = $2::uuid AND branch_base_version = $3
"""
# A version outside the branch after the branch's trunk: the branch was interrupted.
SELECT_INTERRUPTING_VERSION = """
SELECT EXISTS (
    SELECT 1 FROM entity_defs
    WHERE entity_id = $1 AND branch_id IS DISTINCT FROM $2::uuid AND version > $3
)
"""
SELECT_DEFS = """
SELECT v.id, v.version, v.base_version, v.trunk_version, v.branch_id::text AS branch_id,
       v.branch_base_version, v.root, v.current, v.label, v.data, v.data_received,
       v.conflicting_properties, v.creator_id, v.user_agent, v.source_type, v.source_details,
       v.created_at, v.submission_version_id,
       s.instance_id AS submission_instance_id, f.xml_form_id AS submission_form,
       sv.instance_id AS submission_version_instance_id,
       a.display_name AS creator_name, a.type AS creator_type, a.created_at AS creator_created_at
FROM entity_defs v
LEFT JOIN submission_versions sv ON sv.id = v.submission_version_id
LEFT JOIN submissions s ON s.id = v.submission_id
LEFT JOIN forms f ON f.id = s.form_id
LEFT JOIN actors a ON a.id = v.creator_id
WHERE v.entity_id = $1
ORDER BY v.version
"""
# A submission writes its entities once: a later edit or approval of a submission that
# already wrote (or is held) changes nothing, as in Central.
SELECT_SUBMISSION_DONE = """
SELECT EXISTS (SELECT 1 FROM entity_defs WHERE submission_id = $1)
    OR EXISTS (SELECT 1 FROM entity_submission_backlog b
               JOIN submission_versions sv ON sv.id = b.submission_version_id
               WHERE sv.submission_id = $1)
"""
MARK_DELETED = """
UPDATE entities SET deleted_at = clock_timestamp() WHERE id = $1 AND deleted_at IS NULL
RETURNING id
"""
MARK_RESTORED = """
UPDATE entities SET deleted_at = NULL, updated_at = clock_timestamp()
WHERE id = $1 AND deleted_at IS NOT NULL
RETURNING id
"""
# Submissions whose entity creation waits for approval (what ?convert=true creates).
SELECT_PENDING_SUBMISSION_VERSIONS = """
SELECT sv.id FROM submission_versions sv
JOIN dataset_form_defs l ON l.form_def_id = sv.form_def_id AND l.dataset_id = $1
                         AND 'create' = ANY (l.actions)
JOIN submissions s ON s.id = sv.submission_id
WHERE sv.current AND s.review_state IS DISTINCT FROM 'rejected'
  AND NOT EXISTS (SELECT 1 FROM entity_defs d WHERE d.submission_id = s.id)
ORDER BY s.created_at, s.id
"""
CLEAR_CONFLICT = "UPDATE entities SET conflict = NULL WHERE id = $1"

# ---------------------------------------------------------------------------------------------
# Backlog of offline updates

INSERT_HELD = """
INSERT INTO entity_submission_backlog (submission_version_id, entity_uuid, branch_id,
                                       branch_base_version)
VALUES ($1, $2::uuid, $3::uuid, $4)
ON CONFLICT (submission_version_id) DO NOTHING
"""
TAKE_NEXT_HELD = """
DELETE FROM entity_submission_backlog
WHERE submission_version_id = (
    SELECT submission_version_id FROM entity_submission_backlog
    WHERE entity_uuid = $1::uuid AND branch_id = $2::uuid AND branch_base_version = $3
    ORDER BY logged_at LIMIT 1)
RETURNING submission_version_id
"""
SUBMISSION_VERSION_COLUMNS = """
sv.id, sv.submission_id, sv.form_def_id, sv.xml, sv.submitter_id, sv.user_agent,
sv.instance_id, s.review_state, s.form_id, f.project_id, f.xml_form_id
FROM submission_versions sv JOIN submissions s ON s.id = sv.submission_id
JOIN forms f ON f.id = s.form_id
"""
SELECT_SUBMISSION_VERSION = f"SELECT {SUBMISSION_VERSION_COLUMNS} WHERE sv.id = $1"
SELECT_CURRENT_SUBMISSION_VERSION = f"""
SELECT {SUBMISSION_VERSION_COLUMNS} WHERE sv.submission_id = $1 AND sv.current
"""


async def insert_dataset(
    conn: asyncpg.Connection, project_id: int, name: str, approval_required: bool
) -> asyncpg.Record:
    """Raises asyncpg.UniqueViolationError (datasets_project_name_unique or
    datasets_project_lower_name_unique) when the name is taken."""
    return await conn.fetchrow(INSERT_DATASET, project_id, name, approval_required)


SELECT_APPROVAL_REQUIRED = "SELECT approval_required FROM datasets WHERE id = $1"


async def approval_required(conn: asyncpg.Connection, dataset_id: int) -> bool:
    return await conn.fetchval(SELECT_APPROVAL_REQUIRED, dataset_id)


async def get_dataset(conn: asyncpg.Connection, project_id: int, name: str):
    return await conn.fetchrow(SELECT_DATASET, project_id, name)


async def dataset_name(conn: asyncpg.Connection, dataset_id: int) -> str:
    return await conn.fetchval(SELECT_DATASET_NAME, dataset_id)


async def get_dataset_caseless(conn: asyncpg.Connection, project_id: int, name: str):
    return await conn.fetchrow(SELECT_DATASET_CASELESS, project_id, name)


async def list_datasets(
    conn: asyncpg.Connection, project_id: int, *, scope: RowScope
) -> list[asyncpg.Record]:
    """The project's lists, counting only the entities of `scope`."""
    args: list = [project_id]
    return await conn.fetch(_scoped(SELECT_DATASETS, args, scope), *args)


async def set_approval_required(conn: asyncpg.Connection, dataset_id: int, value: bool):
    return await conn.fetchrow(UPDATE_APPROVAL_REQUIRED, dataset_id, value)


async def add_property(conn: asyncpg.Connection, dataset_id: int, name: str) -> tuple[int, bool]:
    """(property id, whether it was created now)."""
    created = await conn.fetchval(INSERT_PROPERTY, dataset_id, name)
    if created is not None:
        return created, True
    return await conn.fetchval(SELECT_PROPERTY_ID, dataset_id, name), False


async def list_properties(conn: asyncpg.Connection, dataset_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PROPERTIES, dataset_id)


async def property_fields(conn: asyncpg.Connection, dataset_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PROPERTY_FIELDS, dataset_id)


async def link_form_def(
    conn: asyncpg.Connection, dataset_id: int, form_def_id: int, actions: Sequence[str]
) -> None:
    await conn.execute(INSERT_FORM_DEF_LINK, dataset_id, form_def_id, list(actions))


async def link_property_field(
    conn: asyncpg.Connection, property_id: int, form_def_id: int, path: str
) -> None:
    await conn.execute(INSERT_PROPERTY_FIELD, property_id, form_def_id, path)


async def datasets_of_form_def(conn: asyncpg.Connection, form_def_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_FORM_DEF_DATASETS, form_def_id)


async def source_forms(conn: asyncpg.Connection, dataset_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_SOURCE_FORMS, dataset_id)


async def linked_forms(conn: asyncpg.Connection, dataset_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_LINKED_FORMS, dataset_id)


async def link_attachments(conn: asyncpg.Connection, form_def_id: int, project_id: int) -> list[str]:
    return [r["name"] for r in await conn.fetch(LINK_ATTACHMENTS, form_def_id, project_id)]


async def attachment_dataset(conn: asyncpg.Connection, form_def_id: int, name: str):
    return await conn.fetchrow(SELECT_ATTACHMENT_DATASET, form_def_id, name)


async def attachment_datasets(conn: asyncpg.Connection, form_def_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ATTACHMENT_DATASETS, form_def_id)


async def dataset_state(
    conn: asyncpg.Connection, dataset_id: int, *, scope: RowScope
) -> asyncpg.Record:
    args: list = [dataset_id]
    return await conn.fetchrow(_scoped(SELECT_DATASET_STATE, args, scope), *args)


async def lock_entity_uuid(conn: asyncpg.Connection, uuid: str) -> None:
    await conn.execute(LOCK_ENTITY_UUID, uuid)


async def get_entity(
    conn: asyncpg.Connection, dataset_id: int, uuid: str, *, deleted: bool = False,
    scope: RowScope,
) -> asyncpg.Record | None:
    """The entity when it exists and is in `scope` (else None: the same answer)."""
    args: list = [dataset_id, uuid, deleted]
    return await conn.fetchrow(_scoped(SELECT_ENTITY, args, scope), *args)


async def find_entity_uuid(conn: asyncpg.Connection, uuid: str) -> asyncpg.Record | None:
    """The entity with this uuid in any dataset (uuids are unique across datasets)."""
    return await conn.fetchrow(SELECT_ENTITY_ANY_DATASET, uuid)


async def list_entities(
    conn: asyncpg.Connection, dataset_id: int, *, deleted: bool = False, scope: RowScope
) -> list[asyncpg.Record]:
    args: list = [dataset_id, deleted]
    return await conn.fetch(_scoped(SELECT_ENTITIES, args, scope), *args)


async def page_entities(
    conn: asyncpg.Connection, dataset_id: int, *, limit: int | None, offset: int,
    scope: RowScope,
) -> list[asyncpg.Record]:
    args: list = [dataset_id, limit, offset]
    return await conn.fetch(_scoped(SELECT_ENTITIES_PAGE, args, scope), *args)


async def search_entities(
    conn: asyncpg.Connection, dataset_id: int, properties: dict[str, str], label: str | None,
    *, limit: int, offset: int, scope: RowScope,
) -> tuple[list[asyncpg.Record], int]:
    """A page of the live entities of `scope` matching (SEARCH_ENTITIES), and how many
    match."""
    args: list = [dataset_id, properties, label]
    matching = await conn.fetchval(_scoped(COUNT_MATCHING_ENTITIES, args, scope), *args)
    args = [dataset_id, properties, label, limit, offset]
    rows = await conn.fetch(_scoped(SEARCH_ENTITIES, args, scope), *args)
    return rows, matching


async def current_data(
    conn: asyncpg.Connection, project_id: int, name: str
) -> list[tuple[str, dict]]:
    """(uuid, current data) of every live entity of a list."""
    return [(r["uuid"], r["data"]) for r in await conn.fetch(SELECT_CURRENT_DATA, project_id, name)]


async def count_entities(conn: asyncpg.Connection, dataset_id: int, *, scope: RowScope) -> int:
    args: list = [dataset_id]
    return await conn.fetchval(_scoped(COUNT_ENTITIES, args, scope), *args)


async def entity_states(
    conn: asyncpg.Connection, dataset_id: int, uuids: Sequence[str] | None, *, scope: RowScope
) -> list[asyncpg.Record]:
    args: list = [dataset_id, list(uuids) if uuids else None]
    return await conn.fetch(_scoped(SELECT_ENTITY_STATES, args, scope), *args)


async def insert_entity(
    conn: asyncpg.Connection,
    *,
    dataset_id: int,
    uuid: str,
    creator_id: int | None,
    label: str,
    data: dict[str, str],
    data_received: dict[str, str],
    user_agent: str | None,
    source_type: str,
    source_details: dict | None = None,
    submission_id: int | None = None,
    submission_version_id: int | None = None,
    trunk_version: int | None = None,
    branch_id: str | None = None,
    branch_base_version: int | None = None,
    unless_approval_required: bool = False,
    audit_acted_on: str | None = None,
    audit_details: dict | None = None,
) -> asyncpg.Record | None:
    """The new entity's id and def_id; None when the uuid is taken (in any dataset) or, with
    unless_approval_required, when the dataset requires approval. With audit_acted_on, the
    `entity.create` audit row is written by the same statement (details + entityId and
    entityDefId)."""
    return await conn.fetchrow(
        INSERT_ENTITY,
        dataset_id,
        uuid,
        creator_id,
        trunk_version,
        branch_id,
        branch_base_version,
        label,
        data,
        data_received,
        user_agent,
        source_type,
        source_details,
        submission_id,
        submission_version_id,
        unless_approval_required,
        audit_acted_on,
        audit_details or {},
    )


async def insert_entities_bulk(
    conn: asyncpg.Connection,
    dataset_id: int,
    rows: Sequence[tuple[str, str, dict[str, str]]],
    *,
    creator_id: int | None,
    user_agent: str | None,
    source_details: dict,
) -> None:
    """(uuid, label, data) rows, one statement. Raises asyncpg.UniqueViolationError
    (entities_uuid_unique) when a uuid is taken."""
    await conn.execute(
        INSERT_ENTITIES_BULK,
        dataset_id,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        creator_id,
        user_agent,
        source_details,
    )


async def insert_version(
    conn: asyncpg.Connection,
    *,
    entity_id: int,
    version: int,
    base_version: int,
    label: str,
    data: dict[str, str],
    data_received: dict[str, str],
    conflict: str | None,
    conflicting_properties: Sequence[str] | None,
    creator_id: int | None,
    user_agent: str | None,
    source_type: str,
    source_details: dict | None = None,
    submission_id: int | None = None,
    submission_version_id: int | None = None,
    trunk_version: int | None = None,
    branch_id: str | None = None,
    branch_base_version: int | None = None,
) -> int:
    return await conn.fetchval(
        INSERT_VERSION,
        entity_id,
        version,
        base_version,
        trunk_version,
        branch_id,
        branch_base_version,
        label,
        data,
        data_received,
        list(conflicting_properties) if conflicting_properties is not None else None,
        creator_id,
        user_agent,
        source_type,
        source_details,
        submission_id,
        submission_version_id,
        conflict,
    )


async def insert_submission_with_entity(
    conn: asyncpg.Connection,
    submission_args: Sequence,
    *,
    dataset_id: int,
    uuid: str,
    label: str,
    data: dict[str, str],
    data_received: dict[str, str],
    branch_id: str | None,
    source_details: dict,
    audit_acted_on: str,
    audit_details: dict,
) -> asyncpg.Record | None:
    """submission_args: db.submissions.new_submission_args(...). Returns submission_id,
    version_id and entity_id (NULL when not created), or None when the instanceID exists."""
    return await conn.fetchrow(
        INSERT_SUBMISSION_WITH_ENTITY, *submission_args, dataset_id, uuid, label, data,
        data_received, branch_id, source_details, audit_acted_on, audit_details,
    )


async def get_def_by_version(conn: asyncpg.Connection, entity_id: int, version: int):
    return await conn.fetchrow(SELECT_DEF_BY_VERSION, entity_id, version)


async def get_def_in_branch(
    conn: asyncpg.Connection, entity_id: int, branch_id: str, branch_base_version: int
):
    return await conn.fetchrow(SELECT_DEF_IN_BRANCH, entity_id, branch_id, branch_base_version)


async def branch_interrupted(
    conn: asyncpg.Connection, entity_id: int, branch_id: str, after_version: int
) -> bool:
    return await conn.fetchval(SELECT_INTERRUPTING_VERSION, entity_id, branch_id, after_version)


async def list_defs(conn: asyncpg.Connection, entity_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_DEFS, entity_id)


async def submission_processed(conn: asyncpg.Connection, submission_id: int) -> bool:
    return await conn.fetchval(SELECT_SUBMISSION_DONE, submission_id)


async def mark_deleted(conn: asyncpg.Connection, entity_id: int) -> bool:
    return await conn.fetchval(MARK_DELETED, entity_id) is not None


async def mark_restored(conn: asyncpg.Connection, entity_id: int) -> bool:
    return await conn.fetchval(MARK_RESTORED, entity_id) is not None


async def pending_submission_versions(conn: asyncpg.Connection, dataset_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(SELECT_PENDING_SUBMISSION_VERSIONS, dataset_id)]


async def clear_conflict(conn: asyncpg.Connection, entity_id: int) -> None:
    await conn.execute(CLEAR_CONFLICT, entity_id)


async def hold_submission(
    conn: asyncpg.Connection, version_id: int, entity_uuid: str, branch_id: str, base: int
) -> None:
    await conn.execute(INSERT_HELD, version_id, entity_uuid, branch_id, base)


async def take_next_held(
    conn: asyncpg.Connection, entity_uuid: str, branch_id: str, branch_base_version: int
) -> int | None:
    return await conn.fetchval(TAKE_NEXT_HELD, entity_uuid, branch_id, branch_base_version)


async def get_submission_version(conn: asyncpg.Connection, version_id: int):
    return await conn.fetchrow(SELECT_SUBMISSION_VERSION, version_id)


async def get_current_submission_version(conn: asyncpg.Connection, submission_id: int):
    return await conn.fetchrow(SELECT_CURRENT_SUBMISSION_VERSION, submission_id)

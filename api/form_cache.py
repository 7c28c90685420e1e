"""What ingest needs to know about a published form version, cached in-process.

A published version (form_def) never changes, so its parsed schema is cached for good. The
form's state (open/closing/closed) and its project's archived flag can change: they are re-read
after STATE_TTL seconds, and at once in the process that changed them (`forget_form`,
`forget_project`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from cachetools import LRUCache, TTLCache

from db import forms as forms_db
from forms.entities import EntityDeclaration, entity_declarations
from forms.schema import FormSchema, parse_xform
from forms.screening import RISK_SCREENING_FORM_ID

STATE_TTL = 2.0

SELECT_TARGET = """
SELECT f.id AS form_id, f.state, d.id AS def_id, d.version, d.xform, p.archived
FROM forms f JOIN form_defs d ON d.form_id = f.id JOIN projects p ON p.id = f.project_id
WHERE f.project_id = $1 AND f.xml_form_id = $2 AND d.version = $3
  AND d.published_at IS NOT NULL AND f.deleted_at IS NULL
"""
# A form's current draft (the preview page submits to it); never cached: drafts change.
SELECT_DRAFT_TARGET = """
SELECT f.id AS form_id, f.state, d.id AS def_id, d.version, d.xform, p.archived
FROM forms f JOIN form_defs d ON d.id = f.draft_def_id JOIN projects p ON p.id = f.project_id
WHERE f.project_id = $1 AND f.xml_form_id = $2 AND d.version = $3 AND f.deleted_at IS NULL
"""


@dataclass(frozen=True)
class SubmissionTarget:
    project_id: int
    xml_form_id: str
    form_id: int
    def_id: int
    version: str
    state: str
    repeat_paths: frozenset[str]
    binary_paths: frozenset[str]
    entity_declarations: tuple[EntityDeclaration, ...] = ()
    archived: bool = False  # the project's: read-only, it takes no submission

    @property
    def is_screening(self) -> bool:
        return self.xml_form_id == RISK_SCREENING_FORM_ID


_schema_paths: LRUCache[int, tuple[frozenset[str], frozenset[str], tuple[EntityDeclaration, ...]]] = (
    LRUCache(maxsize=10_000)
)
# The parsed schema of each form version, the one cache every surface and service reads a
# version's questions through (pages, exports, OData, ingest). Keyed by the version's id and its
# XForm's text: publishing a draft rewrites the same row's XForm with the version it is given,
# so a draft's schema is never taken for the published one.
_schemas: LRUCache[tuple[int, int], FormSchema] = LRUCache(maxsize=512)


def version_schema_of(def_id: int, xform: str) -> FormSchema:
    """The parsed schema of form version `def_id` whose XForm is `xform` (parsed once)."""
    key = (def_id, hash(xform))
    schema = _schemas.get(key)
    if schema is None:
        schema = _schemas[key] = parse_xform(xform)
    return schema


async def version_schema(conn: asyncpg.Connection, def_id: int) -> FormSchema:
    """The parsed schema of form version `def_id` (its XForm read, parsed only once)."""
    return version_schema_of(def_id, await forms_db.get_xform(conn, def_id))
# ids and versions come from phones: the cache is bounded; a miss (None) is cached too
_targets: TTLCache[tuple[int, str, str], SubmissionTarget | None] = TTLCache(
    maxsize=10_000, ttl=STATE_TTL, timer=time.monotonic
)
_MISSING = object()


def forget_form(project_id: int, xml_form_id: str) -> None:
    for key in [k for k in _targets if k[0] == project_id and k[1] == xml_form_id]:
        _targets.pop(key, None)


def forget_project(project_id: int) -> None:
    """A project was (un)archived: its forms' targets are read again."""
    for key in [k for k in _targets if k[0] == project_id]:
        _targets.pop(key, None)


def _target_of(project_id: int, xml_form_id: str, row: asyncpg.Record) -> SubmissionTarget:
    paths = _schema_paths.get(row["def_id"])
    if paths is None:
        schema = version_schema_of(row["def_id"], row["xform"])
        paths = (
            schema.repeat_paths, schema.binary_paths, tuple(entity_declarations(row["xform"]))
        )
        _schema_paths[row["def_id"]] = paths
    return SubmissionTarget(
        project_id=project_id,
        xml_form_id=xml_form_id,
        form_id=row["form_id"],
        def_id=row["def_id"],
        version=row["version"],
        state=row["state"],
        repeat_paths=paths[0],
        binary_paths=paths[1],
        entity_declarations=paths[2],
        archived=row["archived"],
    )


async def draft_submission_target(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, version: str
) -> SubmissionTarget | None:
    """The form's current draft, when the submission names its version."""
    row = await conn.fetchrow(SELECT_DRAFT_TARGET, project_id, xml_form_id, version)
    return None if row is None else _target_of(project_id, xml_form_id, row)


async def submission_target(
    conn: asyncpg.Connection, project_id: int, xml_form_id: str, version: str
) -> SubmissionTarget | None:
    key = (project_id, xml_form_id, version)
    cached = _targets.get(key, _MISSING)
    if cached is not _MISSING:
        return cached
    row = await conn.fetchrow(SELECT_TARGET, project_id, xml_form_id, version)
    target = None if row is None else _target_of(project_id, xml_form_id, row)
    _targets[key] = target
    return target


SELECT_DEF_XFORM = "SELECT xform FROM form_defs WHERE id = $1"
_declarations: dict[int, tuple[EntityDeclaration, ...]] = {}


async def entity_declarations_of_def(
    conn: asyncpg.Connection, def_id: int
) -> list[EntityDeclaration]:
    """The entity blocks of a form version (a version never changes: cached for good)."""
    cached = _schema_paths.get(def_id)
    if cached is not None:
        return list(cached[2])
    if def_id not in _declarations:
        xform = await conn.fetchval(SELECT_DEF_XFORM, def_id)
        _declarations[def_id] = tuple(entity_declarations(xform)) if xform else ()
    return list(_declarations[def_id])

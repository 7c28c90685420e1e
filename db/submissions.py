"""SQL of submissions, their versions, attachments and (for risk_screening) screenings.

The common case, a new submission, is one statement (a CTE), so it commits atomically even
without an explicit transaction and costs one round trip. Duplicates and edits take the slow
path inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.scopes import RowScope, submission_scope_sql
from forms.record_key import new_record_key
from forms.screening import SCREENING_COLUMNS


@dataclass(frozen=True)
class AttachmentIn:
    name: str
    blob_key: str
    content_type: str
    size: int


def _attachment_arrays(expected: Sequence[str], uploaded: dict[str, AttachmentIn]):
    names, keys, types, sizes = [], [], [], []
    for name in expected:
        names.append(name)
        item = uploaded.get(name)
        keys.append(item.blob_key if item else None)
        types.append(item.content_type if item else None)
        sizes.append(item.size if item else None)
    return names, keys, types, sizes


_SCREENING_INSERT_COLS = ", ".join(SCREENING_COLUMNS)
_SCREENING_PARAMS_FROM = 16  # $16.. hold the screening columns in INSERT_NEW_SUBMISSION
_REGION_PARAM = _SCREENING_PARAMS_FROM + len(SCREENING_COLUMNS) + 1  # after the record key
_SCREENING_VALUES = ", ".join(
    f"${_SCREENING_PARAMS_FROM + i}" for i in range(len(SCREENING_COLUMNS))
)

# The statement's CTEs, which db/entities.py extends to store a submission and the entity it
# creates in one statement; NEW_SUBMISSION_PARAMS is the number of its parameters. The
# submission's `submission.create` audit row is written by the same statement.
NEW_SUBMISSION_CTES = f"""
WITH ids AS (
    SELECT nextval('submission_versions_id_seq'::regclass) AS version_id  -- its identity's sequence
), sub AS (
    -- into the table under the view (migration 0050): ON CONFLICT names the table's constraint,
    -- and a deleted instanceID is taken too
    INSERT INTO submissions_all (form_id, instance_id, submitter_id, device_id, current_version_id,
                                 region)
    SELECT $1, $2, $3, $4, version_id, ${_REGION_PARAM}::text FROM ids
    ON CONFLICT ON CONSTRAINT submissions_form_instance_unique DO NOTHING
    RETURNING id, current_version_id
), ver AS (
    INSERT INTO submission_versions (
        id, submission_id, form_id, form_def_id, instance_id, instance_name, xml, xml_md5,
        answers, submitter_id, device_id, user_agent, attachments_expected, attachments_present)
    OVERRIDING SYSTEM VALUE
    SELECT sub.current_version_id, sub.id, $1, $5, $2, $6, $7, $8, $9, $3, $4, $10,
           cardinality($11::text[]),
           (SELECT count(*) FROM unnest($12::text[]) k WHERE k IS NOT NULL)
    FROM sub
    RETURNING id, submission_id
), files AS (
    INSERT INTO submission_attachments (version_id, name, blob_key, content_type, size, uploaded_at)
    SELECT ver.id, f.name, f.blob_key, f.content_type, f.size,
           CASE WHEN f.blob_key IS NULL THEN NULL ELSE now() END
    FROM ver, unnest($11::text[], $12::text[], $13::text[], $14::bigint[])
         AS f(name, blob_key, content_type, size)
), screening AS (
    INSERT INTO screenings (submission_id, version_id, form_id, record_key, {_SCREENING_INSERT_COLS})
    SELECT ver.submission_id, ver.id, $1, ${_REGION_PARAM - 1}::bigint,
           {_SCREENING_VALUES}
    FROM ver WHERE $15::boolean
), created AS (
    -- the write records its own audit row, whoever stores the submission
    INSERT INTO audits (actor_id, action, acted_on)
    SELECT $3, 'submission.create', 'submission/' || f.project_id || '/' || f.xml_form_id || '/' || $2
    FROM ver JOIN forms f ON f.id = $1
)
"""
NEW_SUBMISSION_PARAMS = _REGION_PARAM  # the last two: record key, region
INSERT_NEW_SUBMISSION = NEW_SUBMISSION_CTES + "SELECT submission_id, id AS version_id FROM ver\n"

SELECT_VERSION_BY_INSTANCE = """
SELECT v.id AS version_id, v.submission_id, v.xml_md5, v.current, v.form_def_id,
       s.instance_id AS submission_instance_id, s.submitter_id
FROM submission_versions v JOIN submissions s ON s.id = v.submission_id
WHERE v.form_id = $1 AND v.instance_id = $2
"""

LOCK_SUBMISSION = "SELECT id, current_version_id FROM submissions WHERE id = $1 FOR UPDATE"

FILL_MISSING_ATTACHMENTS = """
WITH filled AS (
    UPDATE submission_attachments a
    SET blob_key = f.blob_key, content_type = f.content_type, size = f.size, uploaded_at = now()
    FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS f(name, blob_key, content_type, size)
    WHERE a.version_id = $1 AND a.name = f.name AND a.blob_key IS NULL AND f.blob_key IS NOT NULL
    RETURNING a.name
)
UPDATE submission_versions
SET attachments_present = attachments_present + (SELECT count(*) FROM filled)
WHERE id = $1
RETURNING attachments_present, attachments_expected
"""

INSERT_EDIT_VERSION = """
WITH old AS (
    UPDATE submission_versions SET current = false WHERE id = $13 RETURNING id
), ver AS (
    INSERT INTO submission_versions (
        submission_id, form_id, form_def_id, instance_id, deprecated_id, instance_name, xml,
        xml_md5, answers, submitter_id, device_id, user_agent, attachments_expected)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0 FROM old
    RETURNING id
), sub AS (
    UPDATE submissions SET current_version_id = ver.id, edits = edits + 1,
           review_state = 'edited', updated_at = now(), region = $14
    FROM ver WHERE submissions.id = $1
    RETURNING submissions.id
)
SELECT ver.id FROM ver, sub
"""

# Attachments of an edit: those uploaded now, else carried over by name from the old version.
INSERT_EDIT_ATTACHMENTS = """
WITH rows AS (
    INSERT INTO submission_attachments (version_id, name, blob_key, content_type, size, uploaded_at)
    SELECT $1, f.name,
           coalesce(f.blob_key, prev.blob_key),
           coalesce(f.content_type, prev.content_type),
           coalesce(f.size, prev.size),
           CASE WHEN f.blob_key IS NOT NULL THEN now() ELSE prev.uploaded_at END
    FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS f(name, blob_key, content_type, size)
    LEFT JOIN submission_attachments prev ON prev.version_id = $2 AND prev.name = f.name
    RETURNING blob_key
)
UPDATE submission_versions
SET attachments_expected = (SELECT count(*) FROM rows),
    attachments_present = (SELECT count(*) FROM rows WHERE blob_key IS NOT NULL)
WHERE id = $1
"""

UPSERT_SCREENING = f"""
INSERT INTO screenings (submission_id, version_id, form_id, {_SCREENING_INSERT_COLS})
VALUES ($1, $2, $3, {", ".join(f"${4 + i}" for i in range(len(SCREENING_COLUMNS)))})
ON CONFLICT (submission_id) DO UPDATE SET
    version_id = EXCLUDED.version_id, classified_at = now(),
    {", ".join(f"{c} = EXCLUDED.{c}" for c in SCREENING_COLUMNS)}
WHERE (screenings.version_id, {", ".join(f"screenings.{c}" for c in SCREENING_COLUMNS)})
      IS DISTINCT FROM (EXCLUDED.version_id, {", ".join(f"EXCLUDED.{c}" for c in SCREENING_COLUMNS)})
"""

SELECT_SCREENING_BATCH = """
SELECT s.id AS submission_id, s.current_version_id AS version_id, s.form_id, v.answers
FROM submissions s
JOIN forms f ON f.id = s.form_id
JOIN submission_versions v ON v.id = s.current_version_id
WHERE f.xml_form_id = $1 AND ($2::integer IS NULL OR f.project_id = $2) AND s.id > $3
ORDER BY s.id
LIMIT $4
"""
COUNT_SCREENING_SUBMISSIONS = """
SELECT count(*) FROM submissions s JOIN forms f ON f.id = s.form_id
WHERE f.xml_form_id = $1 AND ($2::integer IS NULL OR f.project_id = $2)
"""

SUBMISSION_COLUMNS = """
s.id, s.instance_id, s.submitter_id, a.display_name AS submitter_name, s.device_id,
s.created_at, s.updated_at, s.review_state, s.edits,
v.id AS version_id, v.instance_id AS current_instance_id, v.instance_name,
v.attachments_expected, v.attachments_present, d.version AS form_version, v.answers
"""
SUBMISSION_FROM = """
FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
JOIN form_defs d ON d.id = v.form_def_id
LEFT JOIN actors a ON a.id = s.submitter_id
"""

SELECT_SUBMISSION = f"""
SELECT {SUBMISSION_COLUMNS} {SUBMISSION_FROM}
WHERE s.form_id = $1 AND s.instance_id = $2
"""

EXPORT_FILTER = """
WHERE s.form_id = $1
  AND ($2::timestamptz IS NULL OR s.created_at >= $2)
  AND ($3::timestamptz IS NULL OR s.created_at < $3)
  AND ($4::text[] IS NULL OR coalesce(s.review_state, 'received') = ANY($4))
  AND ($5::text[] IS NULL OR d.version = ANY($5))
"""
SELECT_SUBMISSIONS_FOR_EXPORT = f"""
SELECT {SUBMISSION_COLUMNS},
       sc.rubric_version, sc.vulnerability_score, sc.vulnerability_level, sc.exploitation_status,
       sc.urgent, sc.risk_level, sc.risk_groups, sc.control_forms, sc.exploitation_types,
       sc.needs_review
{SUBMISSION_FROM}
LEFT JOIN screenings sc ON sc.submission_id = s.id
{EXPORT_FILTER}
"""
OLDEST_FIRST = "ORDER BY s.created_at, s.id"
NEWEST_FIRST = "ORDER BY s.created_at DESC, s.id DESC"  # Central's CSV order

# The uploaded files of the exported submissions' current versions; `client_audit` marks the
# file the submission names in meta/audit (ODK Collect's audit log, Central's client audit).
SELECT_ATTACHMENTS_FOR_EXPORT = f"""
SELECT s.instance_id, f.name, f.blob_key,
       coalesce(v.answers -> 'meta' ->> 'audit' = f.name, false) AS client_audit
FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
JOIN form_defs d ON d.id = v.form_def_id
JOIN submission_attachments f ON f.version_id = v.id AND f.blob_key IS NOT NULL
{EXPORT_FILTER}"""
ATTACHMENTS_EXPORT_ORDER = "ORDER BY s.created_at, s.id, f.name"

SELECT_VERSION_XML = """
SELECT v.xml FROM submissions s JOIN submission_versions v ON v.id = s.current_version_id
WHERE s.form_id = $1 AND s.instance_id = $2
"""

SELECT_ATTACHMENTS = """
SELECT a.name, a.blob_key, a.content_type, a.size, a.uploaded_at
FROM submission_attachments a WHERE a.version_id = $1 ORDER BY a.name
"""

SELECT_SCREENING = """
SELECT sc.* FROM screenings sc JOIN submissions s ON s.id = sc.submission_id
WHERE s.form_id = $1 AND s.instance_id = $2
"""

COUNT_SUBMISSIONS = "SELECT count(*) FROM submissions s WHERE s.form_id = $1"


def _in_scope(sql: str, args: list[Any], scope: RowScope) -> str:
    """`sql`, which ends with its WHERE clause, narrowed to the rows of `scope` (db/scopes.py);
    the scope's values are appended to `args`."""
    fragment = submission_scope_sql(scope, args)
    return sql if fragment is None else f"{sql.rstrip()} AND {fragment}\n"


async def insert_new_submission(conn: asyncpg.Connection, **fields: Any) -> int | None:
    """Insert a new submission with its first version, attachment rows and screening (fields:
    those of new_submission_args). Returns the submission id, or None when the instanceID
    already exists for this form."""
    ids = await insert_new_submission_ids(conn, new_submission_args(**fields))
    return ids[0] if ids is not None else None


async def insert_new_submission_ids(
    conn: asyncpg.Connection, args: Sequence
) -> tuple[int, int] | None:
    """INSERT_NEW_SUBMISSION with new_submission_args(...): (submission id, version id), or
    None when the instanceID already exists for this form."""
    row = await conn.fetchrow(INSERT_NEW_SUBMISSION, *args)
    return (row["submission_id"], row["version_id"]) if row is not None else None


def new_submission_args(
    *,
    form_id: int,
    form_def_id: int,
    instance_id: str,
    instance_name: str | None,
    xml: bytes,
    xml_md5: bytes,
    answers: dict,
    submitter_id: int | None,
    device_id: str | None,
    user_agent: str | None,
    expected_attachments: Sequence[str],
    uploaded: dict[str, AttachmentIn],
    screening: dict[str, Any] | None,
    record_key: int | None = None,
    region: str | None = None,
) -> list:
    """The parameters of NEW_SUBMISSION_CTES ($1..$NEW_SUBMISSION_PARAMS), in order (the
    screening's record key for disclosure control: a new random one when not given; the
    record's region, which row scopes read: forms/vocabulary.py `record_region`)."""
    names, keys, types, sizes = _attachment_arrays(expected_attachments, uploaded)
    screening_values = [screening.get(c) if screening else None for c in SCREENING_COLUMNS]
    return [
        form_id,
        instance_id,
        submitter_id,
        device_id,
        form_def_id,
        instance_name,
        xml,
        xml_md5,
        answers,
        user_agent,
        names,
        keys,
        types,
        sizes,
        screening is not None,
        *screening_values,
        new_record_key() if record_key is None else record_key,
        region,
    ]


async def find_version(
    conn: asyncpg.Connection, form_id: int, instance_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_VERSION_BY_INSTANCE, form_id, instance_id)


async def lock_submission(conn: asyncpg.Connection, submission_id: int) -> asyncpg.Record:
    return await conn.fetchrow(LOCK_SUBMISSION, submission_id)


async def fill_missing_attachments(
    conn: asyncpg.Connection, version_id: int, uploaded: dict[str, AttachmentIn]
) -> asyncpg.Record:
    items = list(uploaded.values())
    return await conn.fetchrow(
        FILL_MISSING_ATTACHMENTS,
        version_id,
        [i.name for i in items],
        [i.blob_key for i in items],
        [i.content_type for i in items],
        [i.size for i in items],
    )


async def insert_edit(
    conn: asyncpg.Connection,
    *,
    submission_id: int,
    previous_version_id: int,
    form_id: int,
    form_def_id: int,
    instance_id: str,
    deprecated_id: str,
    instance_name: str | None,
    xml: bytes,
    xml_md5: bytes,
    answers: dict,
    submitter_id: int | None,
    device_id: str | None,
    user_agent: str | None,
    expected_attachments: Sequence[str],
    uploaded: dict[str, AttachmentIn],
    region: str | None = None,
) -> int:
    """A new current version of a submission (inside the caller's transaction, with the
    submission locked). Attachments not sent again carry over by name."""
    version_id = await conn.fetchval(
        INSERT_EDIT_VERSION,
        submission_id,
        form_id,
        form_def_id,
        instance_id,
        deprecated_id,
        instance_name,
        xml,
        xml_md5,
        answers,
        submitter_id,
        device_id,
        user_agent,
        previous_version_id,
        region,
    )
    names, keys, types, sizes = _attachment_arrays(expected_attachments, uploaded)
    await conn.execute(
        INSERT_EDIT_ATTACHMENTS, version_id, previous_version_id, names, keys, types, sizes
    )
    return version_id


async def upsert_screening(
    conn: asyncpg.Connection,
    submission_id: int,
    version_id: int,
    form_id: int,
    screening: dict[str, Any],
) -> None:
    await conn.execute(
        UPSERT_SCREENING,
        submission_id,
        version_id,
        form_id,
        *[screening.get(c) for c in SCREENING_COLUMNS],
    )


async def get_submission(
    conn: asyncpg.Connection, form_id: int, instance_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_SUBMISSION, form_id, instance_id)


async def get_submission_xml(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> bytes | None:
    args: list[Any] = [form_id, instance_id]
    return await conn.fetchval(_in_scope(SELECT_VERSION_XML, args, scope), *args)


async def list_attachments(conn: asyncpg.Connection, version_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ATTACHMENTS, version_id)


async def get_screening(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> asyncpg.Record | None:
    args: list[Any] = [form_id, instance_id]
    return await conn.fetchrow(_in_scope(SELECT_SCREENING, args, scope), *args)


async def count_submissions(conn: asyncpg.Connection, form_id: int, *, scope: RowScope) -> int:
    args: list[Any] = [form_id]
    return await conn.fetchval(_in_scope(COUNT_SUBMISSIONS, args, scope), *args)


def _export_filter_args(form_id, since, until, review_states, versions) -> list:
    """The parameters of EXPORT_FILTER, in order."""
    return [
        form_id,
        since,
        until,
        list(review_states) if review_states else None,
        list(versions) if versions else None,
    ]


async def stream_submissions_for_export(
    conn: asyncpg.Connection,
    form_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    review_states: Sequence[str] | None = None,
    versions: Sequence[str] | None = None,
    prefetch: int = 1000,
    newest_first: bool = False,
    scope: RowScope,
) -> AsyncIterator[asyncpg.Record]:
    """Current versions of a form's submissions, oldest first (or newest first, as Central's
    CSV), through a server-side cursor.
    Must run inside a transaction on a connection the caller owns (a cursor needs one)."""
    order = NEWEST_FIRST if newest_first else OLDEST_FIRST
    args = _export_filter_args(form_id, since, until, review_states, versions)
    sql = _in_scope(SELECT_SUBMISSIONS_FOR_EXPORT, args, scope) + order
    async for row in conn.cursor(sql, *args, prefetch=prefetch):
        yield row


async def stream_attachments_for_export(
    conn: asyncpg.Connection,
    form_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    review_states: Sequence[str] | None = None,
    versions: Sequence[str] | None = None,
    prefetch: int = 100,
    scope: RowScope,
) -> AsyncIterator[asyncpg.Record]:
    """(instance_id, name, blob_key, client_audit) of the uploaded files of the submissions
    `stream_submissions_for_export` gives with the same filters, oldest first. Same rules:
    inside a transaction on the caller's own connection."""
    args = _export_filter_args(form_id, since, until, review_states, versions)
    sql = _in_scope(SELECT_ATTACHMENTS_FOR_EXPORT, args, scope) + ATTACHMENTS_EXPORT_ORDER
    async for row in conn.cursor(sql, *args, prefetch=prefetch):
        yield row


async def screening_batch(
    conn: asyncpg.Connection, xml_form_id: str, project_id: int | None, after_id: int, limit: int
) -> list[asyncpg.Record]:
    """The next `limit` submissions of a form after `after_id` (keyset paging by id)."""
    return await conn.fetch(SELECT_SCREENING_BATCH, xml_form_id, project_id, after_id, limit)


async def count_screening_submissions(
    conn: asyncpg.Connection, xml_form_id: str, project_id: int | None
) -> int:
    return await conn.fetchval(COUNT_SCREENING_SUBMISSIONS, xml_form_id, project_id)


async def upsert_screenings(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
    """Many (submission_id, version_id, form_id, *SCREENING_COLUMNS) rows; unchanged rows are
    left alone (so re-running is a no-op)."""
    await conn.executemany(UPSERT_SCREENING, rows)


# ---------------------------------------------------------------------------------------------
# The REST data API (Central's /submissions resources) and OData.

# A submission as the REST API shows it: the logical submission, its first version's user agent
# (Central reports the initial deviceId/userAgent at the top level) and its current version.
SUBMISSION_API_COLUMNS = """
s.id, s.instance_id, s.submitter_id, a.display_name AS submitter_name,
a.type AS submitter_type, a.created_at AS submitter_created_at,
s.device_id, s.created_at, s.updated_at, s.review_state, s.edits,
(SELECT fv.user_agent FROM submission_versions fv
 WHERE fv.submission_id = s.id ORDER BY fv.id LIMIT 1) AS user_agent,
v.id AS version_id, v.instance_id AS current_instance_id, v.instance_name,
v.submitter_id AS version_submitter_id, v.device_id AS version_device_id,
v.user_agent AS version_user_agent, v.created_at AS version_created_at,
v.deprecated_id AS version_deprecated_id,
(SELECT fd.version FROM form_defs fd WHERE fd.id = v.form_def_id) AS version_form_version,
v.attachments_expected, v.attachments_present,
(SELECT coalesce(jsonb_agg(jsonb_build_object('name', sa.name, 'exists', sa.blob_key IS NOT NULL)
                           ORDER BY sa.name), '[]'::jsonb)
 FROM submission_attachments sa WHERE sa.version_id = v.id) AS attachments
"""
SUBMISSION_API_FROM = """
FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
LEFT JOIN actors a ON a.id = s.submitter_id
"""

SELECT_SUBMISSION_FOR_API = f"""
SELECT {SUBMISSION_API_COLUMNS} {SUBMISSION_API_FROM}
WHERE s.form_id = $1 AND s.instance_id = $2
"""

# Newest first, as Central lists them.
SELECT_SUBMISSIONS_FOR_API = f"""
SELECT {SUBMISSION_API_COLUMNS} {SUBMISSION_API_FROM}
WHERE s.form_id = $1
ORDER BY s.created_at DESC, s.id DESC
LIMIT $2 OFFSET $3
"""

UPDATE_REVIEW_STATE = """
UPDATE submissions SET review_state = $2, updated_at = now()
WHERE id = $1
RETURNING id
"""

VERSION_COLUMNS = """
v.id, v.instance_id, v.deprecated_id, v.instance_name, v.submitter_id, a.display_name AS submitter_name,
a.type AS submitter_type, a.created_at AS submitter_created_at,
v.device_id, v.user_agent, v.created_at, v.current, d.version AS form_version,
v.attachments_expected, v.attachments_present
"""

SELECT_VERSIONS = f"""
SELECT {VERSION_COLUMNS}
FROM submission_versions v
JOIN form_defs d ON d.id = v.form_def_id
LEFT JOIN actors a ON a.id = v.submitter_id
WHERE v.submission_id = $1
ORDER BY v.id DESC
"""

SELECT_VERSION = f"""
SELECT {VERSION_COLUMNS}, v.xml
FROM submission_versions v
JOIN form_defs d ON d.id = v.form_def_id
LEFT JOIN actors a ON a.id = v.submitter_id
WHERE v.submission_id = $1 AND v.instance_id = $2
"""

SELECT_ATTACHMENT = """
SELECT a.name, a.blob_key, a.content_type, a.size, a.uploaded_at
FROM submission_attachments a WHERE a.version_id = $1 AND a.name = $2
"""

# Attach (or replace) a file of a version, and recount what the version has, in one statement.
ATTACH_FILE = """
WITH attached AS (
    UPDATE submission_attachments
    SET blob_key = $3, content_type = $4, size = $5, uploaded_at = now()
    WHERE version_id = $1 AND name = $2
    RETURNING name
)
UPDATE submission_versions v
SET attachments_present = (
    SELECT count(*) FROM submission_attachments sa
    WHERE sa.version_id = $1 AND (sa.blob_key IS NOT NULL OR sa.name = $2))
FROM attached
WHERE v.id = $1
RETURNING v.attachments_present
"""

INSERT_COMMENT = """
INSERT INTO submission_comments (submission_id, actor_id, body) VALUES ($1, $2, $3)
RETURNING id, actor_id, body, created_at
"""

SELECT_COMMENTS = """
SELECT c.id, c.actor_id, c.body, c.created_at, a.display_name AS actor_name, a.type AS actor_type,
       a.created_at AS actor_created_at
FROM submission_comments c LEFT JOIN actors a ON a.id = c.actor_id
WHERE c.submission_id = $1
ORDER BY c.created_at DESC, c.id DESC
"""

# OData: the current version of each submission with what `__system` shows. The WHERE clause
# is completed by `db.odata_filter` (fixed SQL text with $n parameters, never user text).
ODATA_COLUMNS = """
s.id, s.instance_id, s.submitter_id, a.display_name AS submitter_name, s.device_id,
s.created_at, s.updated_at, s.review_state, s.edits,
v.attachments_expected, v.attachments_present, d.version AS form_version, v.answers
"""
ODATA_FROM = """
FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
JOIN form_defs d ON d.id = v.form_def_id
LEFT JOIN actors a ON a.id = s.submitter_id
"""
ODATA_DEFAULT_ORDER = "ORDER BY s.created_at DESC, s.id DESC"
# A $skiptoken names the last submission of the previous page; the next page starts after it.
ODATA_AFTER_CURSOR = (
    "(s.created_at, s.id) < (SELECT c.created_at, c.id FROM submissions c "
    "WHERE c.form_id = s.form_id AND c.instance_id = {param})"
)
SELECT_CURSOR_EXISTS = "SELECT true FROM submissions s WHERE s.form_id = $1 AND s.instance_id = $2"


def _odata_query(
    columns: str,
    where: str,
    params: Sequence[Any],
    *,
    cursor: str | None,
    order: str,
    limit: int | None,
    offset: int,
    scope: RowScope,
) -> tuple[str, list[Any]]:
    """SELECT ... WHERE s.form_id = $1 AND (filter) [AND after cursor] ORDER ... LIMIT ... .
    `where` and `order` are fixed SQL built by db.odata_filter; `params` start at $2."""
    args: list[Any] = list(params)
    clauses = ["s.form_id = $1", f"({where})"]
    # the scope's $n follow the filter's, which start at $2 (so $1 is counted here too)
    scoped: list[Any] = [None, *args]
    fragment = submission_scope_sql(scope, scoped)
    if fragment is not None:
        clauses.append(fragment)
        args = scoped[1:]
    if cursor is not None:
        args.append(cursor)
        clauses.append(ODATA_AFTER_CURSOR.format(param=f"${len(args) + 1}"))
    sql = f"SELECT {columns} {ODATA_FROM} WHERE {' AND '.join(clauses)} {order}"
    if limit is not None:
        args.append(limit)
        sql += f" LIMIT ${len(args) + 1}"
    if offset:
        args.append(offset)
        sql += f" OFFSET ${len(args) + 1}"
    return sql, args


async def get_submission_for_api(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> asyncpg.Record | None:
    """The submission when it exists and is in `scope` (else None: the same answer)."""
    args: list[Any] = [form_id, instance_id]
    return await conn.fetchrow(_in_scope(SELECT_SUBMISSION_FOR_API, args, scope), *args)


async def list_submissions_for_api(
    conn: asyncpg.Connection, form_id: int, *, limit: int | None = None, offset: int = 0
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_SUBMISSIONS_FOR_API, form_id, limit, offset)


async def set_review_state(conn: asyncpg.Connection, submission_id: int, state: str) -> bool:
    return await conn.fetchval(UPDATE_REVIEW_STATE, submission_id, state) is not None


async def list_versions(conn: asyncpg.Connection, submission_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_VERSIONS, submission_id)


async def get_version(
    conn: asyncpg.Connection, submission_id: int, instance_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_VERSION, submission_id, instance_id)


SELECT_ANSWERS_OF_VERSION = "SELECT answers FROM submission_versions WHERE id = $1"


async def get_version_answers(conn: asyncpg.Connection, version_id: int):
    """One version's answers (the nested JSON ingest stored)."""
    return await conn.fetchval(SELECT_ANSWERS_OF_VERSION, version_id)


async def get_attachment(
    conn: asyncpg.Connection, version_id: int, name: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ATTACHMENT, version_id, name)


async def attach_file(
    conn: asyncpg.Connection, version_id: int, item: AttachmentIn
) -> int | None:
    """Store a file for an attachment the version expects; None when it expects no such name."""
    return await conn.fetchval(
        ATTACH_FILE, version_id, item.name, item.blob_key, item.content_type, item.size
    )


async def insert_comment(
    conn: asyncpg.Connection, submission_id: int, actor_id: int, body: str
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_COMMENT, submission_id, actor_id, body)


async def list_comments(conn: asyncpg.Connection, submission_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_COMMENTS, submission_id)


async def odata_cursor_exists(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> bool:
    args: list[Any] = [form_id, instance_id]
    return bool(await conn.fetchval(_in_scope(SELECT_CURSOR_EXISTS, args, scope), *args))


async def count_submissions_for_odata(
    conn: asyncpg.Connection,
    form_id: int,
    where: str,
    params: Sequence[Any],
    *,
    cursor: str | None = None,
    scope: RowScope,
) -> int:
    sql, args = _odata_query(
        "count(*)", where, params, cursor=cursor, order="", limit=None, offset=0, scope=scope
    )
    return await conn.fetchval(sql, form_id, *args)


async def stream_submissions_for_odata(
    conn: asyncpg.Connection,
    form_id: int,
    where: str,
    params: Sequence[Any],
    *,
    cursor: str | None = None,
    order: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    prefetch: int = 500,
    scope: RowScope,
) -> AsyncIterator[asyncpg.Record]:
    """Current versions for an OData table, newest first unless `order` says otherwise.
    Must run inside a transaction on a connection the caller owns (a cursor needs one)."""
    sql, args = _odata_query(
        ODATA_COLUMNS, where, params, cursor=cursor, order=order or ODATA_DEFAULT_ORDER,
        limit=limit, offset=offset, scope=scope,
    )
    async for row in conn.cursor(sql, form_id, *args, prefetch=prefetch):
        yield row


LOCK_SUBMISSIONS = "SELECT id FROM submissions WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"


async def lock_submissions(conn: asyncpg.Connection, submission_ids: Sequence[int]) -> None:
    """Lock submissions in id order (inside the caller's transaction), so that a batch that
    rewrites screenings takes locks in the same order as an edit: submission, then screening."""
    await conn.execute(LOCK_SUBMISSIONS, list(submission_ids))


# ---------------------------------------------------------------------------------------------
# The submissions table of the pages (and the REST list): newest first, filtered, paged by
# keyset. A page starts after (or, going back, before) the (created_at, id) of a row, so page
# 1,000 costs what page 1 costs. Every clause is fixed SQL text with $n parameters.

PAGE_COLUMNS = """
s.id, s.instance_id, s.submitter_id, a.display_name AS submitter_name, s.created_at,
s.updated_at, s.review_state, s.edits, v.instance_name, v.attachments_expected,
v.attachments_present, sc.risk_level, sc.urgent, sc.needs_review, sc.region, sc.district,
sc.consent_refused
"""
PAGE_FROM = """
FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
LEFT JOIN actors a ON a.id = s.submitter_id
LEFT JOIN screenings sc ON sc.submission_id = s.id
"""
API_FROM = SUBMISSION_API_FROM


@dataclass(frozen=True)
class ListFilter:
    """What the submissions table may be narrowed by; empty means everything."""

    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    review_states: tuple[str, ...] = ()  # "received": not reviewed yet (review_state NULL)
    submitter_id: int | None = None
    risk_levels: tuple[str, ...] = ()
    urgent: bool | None = None

    @property
    def needs_screening(self) -> bool:
        return bool(self.risk_levels) or self.urgent is not None


def _filter_sql(filt: ListFilter, args: list[Any], scope: RowScope) -> list[str]:
    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    fragment = submission_scope_sql(scope, args)
    clauses = [] if fragment is None else [fragment]
    if filt.since is not None:
        clauses.append(f"s.created_at >= {arg(filt.since)}")
    if filt.until is not None:
        clauses.append(f"s.created_at < {arg(filt.until)}")
    if len(filt.review_states) == 1:  # the order of index submissions_form_review_created
        clauses.append(f"coalesce(s.review_state, 'received') = {arg(filt.review_states[0])}")
    elif filt.review_states:
        clauses.append(
            f"coalesce(s.review_state, 'received') = ANY({arg(list(filt.review_states))}::text[])"
        )
    if filt.submitter_id is not None:
        clauses.append(f"s.submitter_id = {arg(filt.submitter_id)}")
    if filt.risk_levels or filt.urgent is not None:
        screening = ["sc2.submission_id = s.id"]
        if filt.risk_levels:
            screening.append(f"sc2.risk_level = ANY({arg(list(filt.risk_levels))}::text[])")
        if filt.urgent is not None:
            screening.append(f"sc2.urgent = {arg(filt.urgent)}")
        clauses.append(
            "EXISTS (SELECT 1 FROM screenings sc2 WHERE " + " AND ".join(screening) + ")"
        )
    return clauses


async def list_submission_page(
    conn: asyncpg.Connection,
    form_id: int,
    filt: ListFilter,
    *,
    after: tuple[datetime, int] | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
    offset: int = 0,
    api_columns: bool = False,
    scope: RowScope,
) -> list[asyncpg.Record]:
    """Up to `limit` submissions of `scope`, newest first: after `after` (older rows), or the
    `limit` rows just before `before` (newer rows, still returned newest first)."""
    args: list[Any] = [form_id]
    clauses = ["s.form_id = $1", *_filter_sql(filt, args, scope)]
    order = "DESC"
    if after is not None:
        args.extend(after)
        clauses.append(f"(s.created_at, s.id) < (${len(args) - 1}, ${len(args)})")
    elif before is not None:
        args.extend(before)
        clauses.append(f"(s.created_at, s.id) > (${len(args) - 1}, ${len(args)})")
        order = "ASC"
    columns, source = (
        (SUBMISSION_API_COLUMNS, API_FROM) if api_columns else (PAGE_COLUMNS, PAGE_FROM)
    )
    sql = (
        f"SELECT {columns} {source} WHERE {' AND '.join(clauses)} "
        f"ORDER BY s.created_at {order}, s.id {order}"
    )
    if limit is not None:
        args.append(limit)
        sql += f" LIMIT ${len(args)}"
    if offset:
        args.append(offset)
        sql += f" OFFSET ${len(args)}"
    rows = await conn.fetch(sql, *args)
    return rows[::-1] if order == "ASC" else rows


async def count_submission_page(
    conn: asyncpg.Connection, form_id: int, filt: ListFilter, *, cap: int, scope: RowScope
) -> int:
    """How many submissions of `scope` match, counting at most `cap` + 1 (a bound on the
    cost)."""
    args: list[Any] = [form_id]
    clauses = ["s.form_id = $1", *_filter_sql(filt, args, scope)]
    args.append(cap + 1)
    return await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM submissions s WHERE {' AND '.join(clauses)} "
        f"LIMIT ${len(args)}) AS matched",
        *args,
    )


# The submitters of a form, by a loose index scan over (form_id, submitter_id): one index
# probe per distinct submitter, however many submissions there are.
SELECT_FORM_SUBMITTERS = """
WITH RECURSIVE ids AS (
    (SELECT submitter_id FROM submissions WHERE form_id = $1 AND submitter_id IS NOT NULL
     ORDER BY submitter_id LIMIT 1)
    UNION ALL
    SELECT (SELECT s.submitter_id FROM submissions s
            WHERE s.form_id = $1 AND s.submitter_id > ids.submitter_id
            ORDER BY s.submitter_id LIMIT 1)
    FROM ids WHERE ids.submitter_id IS NOT NULL
)
SELECT a.id, a.display_name, a.type FROM ids JOIN actors a ON a.id = ids.submitter_id
ORDER BY lower(a.display_name), a.id
LIMIT $2
"""


SELECT_SCOPED_SUBMITTERS = """
SELECT a.id, a.display_name, a.type FROM actors a
WHERE a.id IN (SELECT s.submitter_id FROM submissions s
               WHERE s.form_id = $1 AND s.submitter_id IS NOT NULL AND {scope})
ORDER BY lower(a.display_name), a.id
LIMIT $2
"""


async def form_submitters(
    conn: asyncpg.Connection, form_id: int, limit: int = 500, *, scope: RowScope
) -> list[asyncpg.Record]:
    """Who submitted to the form: of the submissions in `scope`, when it is limited."""
    args: list[Any] = [form_id, limit]
    fragment = submission_scope_sql(scope, args)
    if fragment is None:
        return await conn.fetch(SELECT_FORM_SUBMITTERS, *args)
    return await conn.fetch(SELECT_SCOPED_SUBMITTERS.format(scope=fragment), *args)


SELECT_VERSION_ANSWERS = """
SELECT v.id, v.instance_id, v.deprecated_id, v.created_at, v.current, v.answers, v.form_def_id,
       v.submitter_id, a.display_name AS submitter_name, d.version AS form_version
FROM submission_versions v
JOIN form_defs d ON d.id = v.form_def_id
LEFT JOIN actors a ON a.id = v.submitter_id
WHERE v.submission_id = $1
ORDER BY v.id DESC
LIMIT $2
"""


async def list_version_answers(
    conn: asyncpg.Connection, submission_id: int, limit: int = 50
) -> list[asyncpg.Record]:
    """A submission's versions with their answers, newest first (the edit history)."""
    return await conn.fetch(SELECT_VERSION_ANSWERS, submission_id, limit)

SELECT_CURRENT_VERSION = """
SELECT v.id AS version_id, v.form_def_id, v.xml FROM submissions s
JOIN submission_versions v ON v.id = s.current_version_id
WHERE s.form_id = $1 AND s.instance_id = $2
"""


async def get_current_version(
    conn: asyncpg.Connection, form_id: int, instance_id: str, *, scope: RowScope
) -> asyncpg.Record | None:
    """The current version of submission `instance_id` (its key): version id, def id, XML."""
    args: list[Any] = [form_id, instance_id]
    return await conn.fetchrow(_in_scope(SELECT_CURRENT_VERSION, args, scope), *args)


# The submission to review after this one: one of the same form not approved or rejected,
# urgent screenings first, then the next older one (the table's order), else the newest.
NEXT_NEEDING_REVIEW = """
SELECT s.instance_id FROM submissions s
LEFT JOIN screenings sc ON sc.submission_id = s.id
WHERE s.form_id = $1 AND s.id <> $2
  AND coalesce(s.review_state, 'received') NOT IN ('approved', 'rejected') AND {scope}
ORDER BY coalesce(sc.urgent, false) DESC, (s.id < $2) DESC, s.id DESC
LIMIT 1
"""


async def next_needing_review(conn: asyncpg.Connection, form_id: int,
                              submission_id: int, *, scope: RowScope) -> str | None:
    """Of the submissions in `scope` (db/scopes.py)."""
    args: list[Any] = [form_id, submission_id]
    sql = NEXT_NEEDING_REVIEW.replace("{scope}", submission_scope_sql(scope, args) or "true")
    return await conn.fetchval(sql, *args)

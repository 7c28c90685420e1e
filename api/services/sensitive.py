"""Questions that identify a person, for every surface: which paths a reader gets masked,
masking a stream of records, refusing a filter on a masked field.

The decision is `api.auth.may_read_sensitive`; the masking is `forms.sensitive`. Pages, REST,
OData, exports and reports call these, never their own copies.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

import asyncpg

from api.auth import Actor, may_read_sensitive
from api.form_cache import version_schema_of
from api.i18n import N_
from api.problems import Problem
from db import forms as forms_db
from forms.schema import FormSchema
from forms.sensitive import mask_answers, masked_file_names, withheld_file_names

MASKED_FILE = N_("This file belongs to a question that identifies a person; your role may "
                 "not read it.")


def masked_paths(actor: Actor | None, project_id: int, *schemas: FormSchema,
                 centre: str | None = None) -> frozenset[str]:
    """The paths the actor sees masked in answers of these schemas (a form's versions): none
    when it may read sensitive fields, else every path any of them marks."""
    if may_read_sensitive(actor, project_id, centre):
        return frozenset()
    return frozenset().union(*(s.sensitive_paths for s in schemas))


async def _published_schemas(conn: asyncpg.Connection, form_id: int) -> list[FormSchema]:
    defs = await forms_db.list_published_defs(conn, form_id)
    return [version_schema_of(d["id"], d["xform"]) for d in defs]


async def form_masked_paths(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, form_id: int,
    centre: str | None = None,
) -> frozenset[str]:
    """What the actor sees masked in any submission of the form: the paths any published
    version marks (a mark added in a later version masks the older answers too)."""
    if may_read_sensitive(actor, project_id, centre):
        return frozenset()
    return masked_paths(actor, project_id, *await _published_schemas(conn, form_id))


async def withheld_files(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, form_id: int, answers,
) -> frozenset[str]:
    """The files of a submission (its `answers`) the actor may not fetch or see listed."""
    if may_read_sensitive(actor, project_id):
        return frozenset()
    schemas = await _published_schemas(conn, form_id)
    paths = masked_paths(actor, project_id, *schemas)
    binary = frozenset().union(*(s.binary_paths for s in schemas))
    return withheld_file_names(answers, paths, binary)


def shown_sensitive(actor: Actor | None, project_id: int, *schemas: FormSchema) -> bool:
    """Whether the actor is shown the answers of sensitive fields of these schemas unmasked
    (for the audit log: unusual reading lists such exports)."""
    return any(s.sensitive_paths for s in schemas) and may_read_sensitive(actor, project_id)


async def masked_records(
    records: AsyncIterable, paths: frozenset[str], files: set[tuple[str, str]] | None = None,
    binary_paths: frozenset[str] = frozenset(),
) -> AsyncIterator:
    """The records (export rows with `answers` and `instance_id`) with their masked answers;
    the (instance id, file name) of every file a masked file question (`binary_paths`) holds
    are added to `files`."""
    file_paths = paths & binary_paths
    async for record in records:
        row = dict(record)
        answers = row.get("answers")
        if files is not None and file_paths:
            files.update((row["instance_id"], name)
                         for name in masked_file_names(answers, file_paths))
        row["answers"] = mask_answers(answers, paths)
        yield row


def refuse_masked_fields(paths: frozenset[str], asked: Iterable[str]) -> None:
    """A filter, search or breakdown that names a masked field would reveal its values: 403."""
    names = {p.rsplit("/", 1)[-1] for p in paths} | set(paths)
    refused = sorted({a for a in asked if a in names})
    if refused:
        raise Problem(
            "forbidden",
            N_("%(fields)s identifies a person: your role may not filter or group by it."),
            params={"fields": ", ".join(refused)},
        )


def refuse_withheld_file(withheld: frozenset[str], name: str) -> None:
    """403 for a file a masked field names, before anything says whether it was received."""
    if name.strip() in withheld:
        raise Problem("forbidden", MASKED_FILE)

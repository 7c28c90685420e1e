"""Row scopes: which rows of a project an actor may read (issue 24), decided here for every
surface (pages, REST, OData, exports, reports, cases, phones), never per route. `row_scope`
gives the actor's scope; db/scopes.py turns it into the one WHERE fragment every read adds.

- An administrator, and a web user with no scope in the project, read the whole project.
- A scoped web user reads what any of its regions, centres or submitters allows (db/scopes.py).
- An app user tied to a centre gets only that centre's cases on its phone, and may not update
  another centre's case.
A record out of scope answers exactly as one that does not exist.
"""

from __future__ import annotations

import re

from api.auth import Actor
from api.i18n import N_
from api.problems import Problem
from db import scopes as scopes_db
from db.scopes import UNSCOPED, RowScope
from forms.vocabulary import REGIONS

# A centre is named by the choice name the intake form stores (`khujand`).
CENTRE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def row_scope(actor: Actor | None, project_id: int) -> RowScope:
    """The rows of project `project_id` the actor may read (UNSCOPED: all its role allows)."""
    if actor is None or actor.is_admin:
        return UNSCOPED
    if actor.type == "field_key":
        if actor.field_key_project == project_id and actor.centre:
            return RowScope(centres=(actor.centre,))
        return UNSCOPED
    return actor.scopes.get(project_id, UNSCOPED)


def is_scoped(actor: Actor | None, project_id: int) -> bool:
    return row_scope(actor, project_id).limited


def sees_whole_project(actor: Actor, project_id: int) -> bool:
    """Whether the actor reads the project's microdata unscoped: only then may it turn off the
    disclosure control of project-wide summaries (a scoped user sees them as ministries do)."""
    return actor.sees_microdata(project_id) and not is_scoped(actor, project_id)


def require_case_in_scope(actor: Actor, project_id: int, centre: str | None) -> None:
    """A submission that updates a case: refused when the submitter is limited to centres and
    the case belongs to another (an app user tied to a centre, a scoped web user)."""
    scope = row_scope(actor, project_id)
    if scope.limited and (centre is None or centre not in scope.centres):
        raise Problem(
            "case-out-of-scope",
            N_("This submission updates a case of another support centre; it was not stored."),
        )


def require_cases_in_scope(actor: Actor, project_id: int, cases: list[dict]) -> None:
    """Cases (their properties) a web user creates or changes: each of its scope's centres."""
    for data in cases:
        require_case_in_scope(actor, project_id, data.get("centre"))


async def users_in_scope(conn, project_id: int, user_ids: list[int], *,
                         region: str | None = None, centre: str | None = None) -> list[int]:
    """Of `user_ids`, those whose scope in the project takes in a record with this region, or
    (a case and its submissions) this centre: alerts name records and go to them only."""
    scopes = await scopes_db.scopes_in_project(conn, project_id, user_ids)
    return [uid for uid in user_ids if _takes_in(scopes.get(uid, UNSCOPED), region, centre)]


def _takes_in(scope: RowScope, region: str | None, centre: str | None) -> bool:
    if not scope.limited:
        return True
    if centre is not None:
        return centre in scope.centres
    return region is not None and region in scope.regions


def clean_centre(value: str | None) -> str | None:
    """A centre as given (REST, pages, CLI): a choice name, or None for none."""
    text = (value or "").strip()
    if not text:
        return None
    if not CENTRE_NAME.match(text):
        raise Problem("request-invalid",
                      N_("A centre is the choice name the intake form stores, such as khujand."))
    return text


def clean_region(value: str) -> str:
    text = (value or "").strip().upper()
    if text not in REGIONS:
        raise Problem("request-invalid", N_("region must be one of %(regions)s."),
                      params={"regions": ", ".join(REGIONS)})
    return text


def scope_of(regions, centres, submitter_ids) -> RowScope:
    """A scope from given values, checked and without repeats."""
    return RowScope(
        regions=tuple(dict.fromkeys(clean_region(r) for r in regions)),
        centres=tuple(dict.fromkeys(c for c in (clean_centre(v) for v in centres) if c)),
        submitter_ids=tuple(dict.fromkeys(int(s) for s in submitter_ids)),
    )

"""Setting a web user's row scope in a project (issue 24), for REST, the admin pages and the CLI
alike: what part of the project the user's roles read (api/scopes.py decides the reads).
Only an administrator (or the server's operator, through the CLI) sets a scope: a scoped
manager may not widen its own. Each change is one transaction with its audit row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from api.auth import Actor, forget_basic_logins_of, require_admin
from api.i18n import N_
from api.problems import Problem
from api.scopes import scope_of
from db import audits, projects
from db import scopes as scopes_db
from db import users as users_db
from db.scopes import RowScope


@dataclass(frozen=True)
class ScopeView:
    """A user's scope in a project, with its submitters' names."""

    regions: tuple[str, ...]
    centres: tuple[str, ...]
    submitters: tuple[tuple[int, str], ...]  # (actor id, display name)

    @property
    def limited(self) -> bool:
        return bool(self.regions or self.centres or self.submitters)


async def _require_user_in(conn: asyncpg.Connection, project_id: int, user_id: int) -> None:
    if await projects.get_project(conn, project_id) is None:
        raise Problem("project-not-found")
    if await users_db.get_user(conn, user_id) is None:
        raise Problem("user-not-found")


async def scope_view(conn: asyncpg.Connection, user_id: int, project_id: int) -> ScopeView:
    rows = await scopes_db.list_scopes(conn, user_id, project_id)
    return ScopeView(
        regions=tuple(r["value"] for r in rows if r["kind"] == "region"),
        centres=tuple(r["value"] for r in rows if r["kind"] == "centre"),
        submitters=tuple((r["submitter_id"], r["submitter_name"]) for r in rows
                         if r["kind"] == "submitter"),
    )


async def get_user_scope(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, user_id: int
) -> ScopeView:
    require_admin(actor)
    await _require_user_in(conn, project_id, user_id)
    return await scope_view(conn, user_id, project_id)


async def set_user_scope(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, user_id: int, *,
    regions: Iterable[str] = (), centres: Iterable[str] = (),
    submitter_ids: Iterable[int] = (), operator: bool = False,
) -> ScopeView:
    """The user's scope in the project becomes exactly this (nothing: the whole project).
    `operator`: the server's operator at the CLI, who needs no administrator session."""
    actor_id = None if operator else require_admin(actor).id
    await _require_user_in(conn, project_id, user_id)
    scope = scope_of(regions, centres, submitter_ids)
    known = await scopes_db.known_submitters(conn, scope.submitter_ids)
    unknown = [i for i in scope.submitter_ids if i not in known]
    if unknown:
        raise Problem("request-invalid", N_("No app user or web user has the id %(ids)s."),
                      params={"ids": ", ".join(map(str, unknown))})
    async with conn.transaction():
        await scopes_db.replace_scopes(conn, user_id, project_id, scope)
        await audits.log_audit(
            conn, actor_id, "user.scope.update", f"user/{user_id}",
            {"projectId": project_id, "regions": list(scope.regions),
             "centres": list(scope.centres), "submitters": list(scope.submitter_ids)},
        )
    forget_basic_logins_of(user_id)
    return await scope_view(conn, user_id, project_id)


async def submitter_by_name(conn: asyncpg.Connection, project_id: int, name: str) -> int:
    """The app user of the project, or the web user, named `name` (a web user also by its
    email): for the CLI's --submitter. Refused when none or several match."""
    found = await scopes_db.submitters_named(conn, project_id, name.strip())
    if len(found) != 1:
        raise Problem("request-invalid", N_("%(name)s names no submitter, or more than one."),
                      params={"name": repr(name)})
    return found[0]


def merged(view: ScopeView, scope: RowScope) -> RowScope:
    """A view's scope with more values added (the CLI adds unless told to --clear)."""
    return RowScope(
        regions=(*view.regions, *scope.regions),
        centres=(*view.centres, *scope.centres),
        submitter_ids=(*(i for i, _ in view.submitters), *scope.submitter_ids),
    )

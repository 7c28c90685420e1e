"""Administration pages: web users (create, give and take project roles, reset a password,
deactivate), projects (create, rename, archive) and the audit log with filters. Every change
calls the service REST uses (api/services/users.py, api/services/projects.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import asyncpg
from litestar import Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from api.auth import ROLES, generate_password
from api.i18n import N_
from api.pages.labels import AUDIT_ACTIONS, AUDIT_DETAILS, AUDIT_GROUP_LABELS, AUDIT_OTHER
from api.pages.web import NavItem, Page, PageNotFound, add_nav
from api.problems import Problem
from api.services import projects as projects_service
from api.services import two_factor as two_factor_service
from api.services import users as users_service
from api.services.backup import backup_is_overdue, newest_backup_time
from db import audits
from db import projects as projects_db
from db import two_factor as two_factor_db
from db import users as users_db
from db.limits import MAX_BIGINT, MAX_INTEGER
from forms.messages import OptionError
from forms.numbers import whole_number
from forms.vocabulary import REVIEW_STATE_LABELS, parse_moment_range

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
ADMIN = "user.manage"  # asked of api/auth.py without a project: administrators only
ROLE_LABELS = {
    "manager": N_("Coordinator (manager)"),
    "researcher": N_("Researcher"),
    "ministry": N_("Ministry"),
    "collector": N_("Data collector"),
    "sensitive_reader": N_("Reads identifying fields (with another role)"),
}
AUDIT_PAGE = 50
AUDIT_GROUPS = ("user", "user.session", "user.assignment", "user.two_factor", "project", "form", "submission",
                "field_key", "summary", "export")

add_nav(NavItem("admin-users", N_("Users"), "/admin/users", ADMIN, scope="global", order=80))
add_nav(NavItem("admin-projects", N_("Manage projects"), "/admin/projects", ADMIN, scope="global",
                order=81))
add_nav(NavItem("admin-audits", N_("Audit log"), "/admin/audits", ADMIN, scope="global", order=82))


def _roles(page: Page) -> list[tuple[str, str]]:
    return [(role, page._(ROLE_LABELS[role])) for role in ROLES]


async def _backup_state(conn) -> dict:
    """The newest backup, for the notice on every admin page: a warning when it is older than
    two days or there is none (docs/backups.md)."""
    newest = await newest_backup_time(conn)
    now = datetime.now(UTC)
    return {"newest": newest, "overdue": backup_is_overdue(newest, now),
            "days": (now - newest).days if newest is not None else None}


async def _users_page(page: Page, conn, *, status: int = 200, error: str | None = None,
                      form: dict | None = None) -> Response:
    rows = await users_db.list_users(conn)
    assignments = await users_db.all_assignments(conn)
    names = {row["id"]: row["name"] for row in await projects_db.list_projects(conn, None)}
    labels = dict(_roles(page))
    users = [
        {
            "id": row["id"], "email": row["email"], "name": row["display_name"],
            "admin": row["is_admin"], "created": row["created_at"],
            "roles": [f"{names.get(pid, pid)}: {', '.join(labels[r] for r in sorted(roles))}"
                      for pid, roles in sorted(assignments.get(row["id"], {}).items())],
        }
        for row in rows
    ]
    return page.render("admin/users.html", status=status, users=users, error=error,
                       form=form or {}, backup=await _backup_state(conn))


@get("/admin/users", include_in_schema=False)
async def users_list(page: Page, conn: asyncpg.Connection) -> Response:
    page.require(ADMIN)
    return await _users_page(page, conn)


@post("/admin/users", include_in_schema=False)
async def users_create(page: Page, conn: asyncpg.Connection, data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    password = data.get("password") or None
    generated = password is None
    if generated:
        password = generate_password()
    try:
        row = await users_service.create_user(
            conn, actor, data.get("email", ""), password, display_name=data.get("display_name"),
            is_admin=data.get("is_admin") == "on",
        )
    except Problem as problem:
        return await _users_page(page, conn, status=problem.status,
                                 error=page.problem_message(problem),
                                 form={"email": data.get("email", ""),
                                       "display_name": data.get("display_name", "")})
    return await _user_page(page, conn, row["id"], status=201,
                            new_password=password if generated else None,
                            notice=page._("The user was created."))


async def _user_page(page: Page, conn, user_id: int, *, status: int = 200, error: str | None = None,
                     notice: str | None = None, new_password: str | None = None) -> Response:
    row = await users_db.get_user(conn, user_id)
    if row is None:
        raise PageNotFound()
    projects = await projects_db.list_projects(conn, None)
    names = {p["id"]: p["name"] for p in projects}
    roles = await users_db.roles_of_actor(conn, user_id)
    labels = dict(_roles(page))
    return page.render(
        "admin/user.html", status=status, user=row, error=error, notice=notice,
        new_password=new_password, roles_choice=_roles(page),
        projects=[p for p in projects if not p["archived"]],
        roles=[{"project_id": pid, "project": names.get(pid, pid), "role": role, "label": labels[role]}
               for pid, rs in sorted(roles.items()) for role in sorted(rs)],
        is_self=page.actor is not None and page.actor.id == user_id,
        two_factor_on=await two_factor_db.is_enrolled(conn, user_id),
        backup=await _backup_state(conn),
    )


@get("/admin/users/{user_id:int}", include_in_schema=False)
async def user_detail(user_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    page.require(ADMIN)
    return await _user_page(page, conn, user_id)


def _int(value: str | None) -> int | None:
    return whole_number(value, MAX_INTEGER)


@post("/admin/users/{user_id:int}/roles", include_in_schema=False)
async def user_role_add(user_id: int, page: Page, conn: asyncpg.Connection,
                        data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    project_id = _int(data.get("project_id"))
    try:
        if project_id is None:
            raise Problem("project-not-found")
        await users_service.assign_role(conn, actor, project_id, data.get("role", ""), user_id)
    except Problem as problem:
        return await _user_page(page, conn, user_id, status=problem.status,
                                error=page.problem_message(problem))
    return page.redirect(f"/admin/users/{user_id}")


@post("/admin/users/{user_id:int}/roles/remove", include_in_schema=False)
async def user_role_remove(user_id: int, page: Page, conn: asyncpg.Connection,
                           data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    project_id = _int(data.get("project_id"))
    if project_id is not None:
        await users_service.unassign_role(conn, actor, project_id, data.get("role", ""), user_id)
    return page.redirect(f"/admin/users/{user_id}")


@post("/admin/users/{user_id:int}/password", include_in_schema=False)
async def user_password(user_id: int, page: Page, conn: asyncpg.Connection,
                        data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    try:
        password = await users_service.reset_password(conn, actor, user_id, data.get("password") or None)
    except Problem as problem:
        if problem.slug == "user-not-found":
            raise PageNotFound() from problem
        return await _user_page(page, conn, user_id, status=problem.status,
                                error=page.problem_message(problem))
    shown = None if data.get("password") else password
    return await _user_page(page, conn, user_id, new_password=shown,
                            notice=page._("The password was changed; the user's sessions ended."))


@post("/admin/users/{user_id:int}/two-factor/reset", include_in_schema=False)
async def user_two_factor_reset(user_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    """A user lost their phone: their two-factor login is removed and their sessions end."""
    actor = page.require(ADMIN)
    try:
        await two_factor_service.reset_two_factor(conn, actor, user_id)
    except Problem as problem:
        if problem.slug == "user-not-found":
            raise PageNotFound() from problem
        raise
    return await _user_page(page, conn, user_id, notice=page._(
        "Two-factor login was reset; the user's sessions ended."))


@post("/admin/users/{user_id:int}/deactivate", include_in_schema=False)
async def user_deactivate(user_id: int, page: Page, conn: asyncpg.Connection) -> Response:
    actor = page.require(ADMIN)
    try:
        await users_service.deactivate_user(conn, actor, user_id)
    except Problem as problem:
        if problem.slug == "user-not-found":
            raise PageNotFound() from problem
        return await _user_page(page, conn, user_id, status=problem.status,
                                error=page.problem_message(problem))
    return page.redirect("/admin/users")


# --- projects ------------------------------------------------------------------------------


async def _projects_page(page: Page, conn, *, status: int = 200, error: str | None = None) -> Response:
    rows = await projects_db.list_projects(conn, None)
    return page.render("admin/projects.html", status=status, projects=rows, error=error,
                       backup=await _backup_state(conn))


@get("/admin/projects", include_in_schema=False)
async def projects_list(page: Page, conn: asyncpg.Connection) -> Response:
    page.require(ADMIN)
    return await _projects_page(page, conn)


@post("/admin/projects", include_in_schema=False)
async def projects_create(page: Page, conn: asyncpg.Connection, data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    try:
        await projects_service.create_project(conn, actor, data.get("name", ""),
                                              (data.get("description") or "").strip() or None)
    except Problem as problem:
        return await _projects_page(page, conn, status=problem.status, error=page.problem_message(problem))
    return page.redirect("/admin/projects")


@post("/admin/projects/{project_id:int}", include_in_schema=False)
async def projects_update(project_id: int, page: Page, conn: asyncpg.Connection,
                          data: dict[str, str] = FORM) -> Response:
    actor = page.require(ADMIN)
    archived = {"archive": True, "unarchive": False}.get(data.get("action", ""))
    name = data.get("name") if data.get("action") == "rename" else None
    try:
        await projects_service.update_project(conn, actor, project_id, name=name, archived=archived)
    except Problem as problem:
        if problem.slug == "project-not-found":
            raise PageNotFound() from problem
        return await _projects_page(page, conn, status=problem.status, error=page.problem_message(problem))
    return page.redirect("/admin/projects")


# --- audit log -----------------------------------------------------------------------------


@get("/admin/audits", include_in_schema=False)
async def audit_log(page: Page, conn: asyncpg.Connection) -> Response:
    page.require(ADMIN)
    query = page.request.query_params
    action = (query.get("action") or "").strip() or None
    offset_text = (query.get("offset") or "").strip()
    offset = whole_number(offset_text, MAX_BIGINT - AUDIT_PAGE) or 0
    error = None
    # dates are days of the user's time zone: from its midnight to the midnight after `to`
    zone = page.i18n.time_zone
    try:
        start, end = parse_moment_range((query.get("from") or "").strip(),
                                        (query.get("to") or "").strip(), ("from", "to"),
                                        zone=zone, dates_only=True)
        if offset_text and whole_number(offset_text, MAX_BIGINT - AUDIT_PAGE) is None:
            raise OptionError(offset_text)
    except OptionError:
        start = end = None
        offset, error = 0, page._("A filter has a value that cannot be used; it was reset. "
                                  "Choose the filters again.")
    rows = await audits.list_audit_entries(conn, action=action, start=start, end=end,
                                           limit=AUDIT_PAGE + 1, offset=offset)
    filters = {k: v for k, v in (("action", action), ("from", query.get("from")),
                                 ("to", query.get("to"))) if v and (k == "action" or not error)}
    more = len(rows) > AUDIT_PAGE

    def link(at: int) -> str:
        return "/admin/audits?" + urlencode({**filters, "offset": at})

    return page.render(
        "admin/audits.html", entries=await audit_entries_view(page, conn, rows[:AUDIT_PAGE]),
        filters=filters, groups=[(g, page._(AUDIT_GROUP_LABELS.get(g, g))) for g in AUDIT_GROUPS],
        error=error,
        newer=link(max(0, offset - AUDIT_PAGE)) if offset else None,
        older=link(offset + AUDIT_PAGE) if more else None,
        backup=await _backup_state(conn),
    )


TARGET_KINDS = {  # what the first part of an entry's `acted_on` names
    "user": N_("User"), "field_key": N_("App user"), "project": N_("Project"),
    "form": N_("Form"), "submission": N_("Submission"), "dataset": N_("Entity list"),
    "case": N_("Case"),
}


async def audit_entries_view(page: Page, conn: asyncpg.Connection, rows) -> list[dict]:
    """The audit entries as the page shows them: the action's name in the page's language,
    the target by name (a user's, a project's) rather than by id, the details' known fields
    labelled, and the raw record (JSON, Cyrillic as it is) for the toggle."""
    actor_ids, project_ids = set(), set()
    parsed = []
    for row in rows:
        parts = (row["acted_on"] or "").split("/")
        parsed.append(parts)
        if len(parts) >= 2 and parts[1].isdigit():
            if parts[0] in ("user", "field_key"):
                actor_ids.add(int(parts[1]))
            elif parts[0] in ("project", "form", "submission", "dataset"):
                project_ids.add(int(parts[1]))
    names = await audits.target_names(conn, sorted(actor_ids), sorted(project_ids))
    _ = page._
    out = []
    for row, parts in zip(rows, parsed, strict=True):
        kind = parts[0] if len(parts) >= 2 and parts[0] in TARGET_KINDS else None
        target = row["acted_on"] or ""
        if kind in ("user", "field_key"):
            target = names.get(("actor", parts[1])) or target
        elif kind in ("project", "form", "submission", "dataset"):
            # the project by name, then the form's (or entity list's) id as its author wrote it
            project = names.get(("project", parts[1])) or parts[1]
            target = " › ".join([project, *parts[2:3]])
        elif kind == "case":
            target = ""
        details = row["details"] if isinstance(row["details"], dict) else {}
        shown = []
        for key, label in AUDIT_DETAILS.items():
            value = details.get(key)
            if value is None or isinstance(value, dict | list):
                continue
            if key == "reviewState":
                value = page.i18n.gettext(REVIEW_STATE_LABELS.get(value, value))
            elif key == "role" and value in ROLE_LABELS:
                value = _(ROLE_LABELS[value])
            elif isinstance(value, bool):
                value = _("yes") if value else _("no")
            elif isinstance(value, int | float):
                value = page.i18n.number(value)
            shown.append((_(label), str(value)))
        out.append({
            "logged_at": row["logged_at"], "actor_name": row["actor_name"],
            "action": row["action"],
            "action_label": _(AUDIT_ACTIONS[row["action"]]) if row["action"] in AUDIT_ACTIONS
            else _(AUDIT_OTHER),
            "kind": _(TARGET_KINDS[kind]) if kind else None, "target": target,
            "details": shown,
            "raw": json.dumps({"action": row["action"], "acted_on": row["acted_on"],
                               "details": row["details"]}, ensure_ascii=False, indent=1,
                              default=str),
        })
    return out


ROUTES = [users_list, users_create, user_detail, user_role_add, user_role_remove, user_password,
          user_two_factor_reset, user_deactivate, projects_list, projects_create, projects_update, audit_log]

"""`fieldsurvey user`: web users."""

from __future__ import annotations

import sys

import click

from api.cli._common import (
    cli_connection,
    fail,
    fail_on_problem,
    find_project,
    run,
    settings_from_env,
)


@click.group(help="web users")
def user() -> None:
    pass


@user.command(help="create a user or give a role")
@click.option("--email", required=True)
@click.option("--role", required=True, help="admin, manager, researcher, ministry or collector")
@click.option("--project", help="project id or name (for project roles)")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from stdin (else one is generated)",
)
def create(email: str, role: str, project: str | None, password_stdin: bool) -> None:
    from api.auth import generate_password

    if role != "admin" and not project:
        fail("--project is needed for a project role")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    run(_create(email, role, project, password, password_stdin))


async def _create(
    email: str, role: str, project_ref: str | None, password: str, password_stdin: bool
) -> None:
    from api.services.users import ensure_user_role

    async with cli_connection(settings_from_env()) as conn:
        project = await find_project(conn, project_ref) if role != "admin" else None
        with fail_on_problem("user"):
            row, created = await ensure_user_role(
                conn, email, password, role, project and project["id"],
                replace_password=password_stdin,
            )
    click.echo(
        f"user {email} (id {row['id']}) has role {role}"
        + (f" in project {project_ref}" if role != "admin" else "")
    )
    if created and not password_stdin:
        click.echo(f"password (shown once): {password}")


@user.command("reset-2fa", help="turn off a user's two-factor login (a lost phone); their "
              "sessions end (audited)")
@click.option("--email", required=True)
def reset_2fa(email: str) -> None:
    run(_reset_2fa(email))


async def _reset_2fa(email: str) -> int:
    from api.auth import normal_email
    from api.services.two_factor import reset_for_user
    from db import users as users_db

    async with cli_connection(settings_from_env()) as conn:
        with fail_on_problem("user"):
            row = await users_db.get_user_by_email(conn, normal_email(email))
        if row is None:
            fail(f"user: no active user {email}")
        was_on = await reset_for_user(conn, row["id"], None)
    click.echo(f"user {row['email']}: two-factor login "
               + ("reset; their sessions ended" if was_on else "was not on; their sessions ended"))
    return 0


@user.command(help="limit a user's roles in a project to regions, centres or submitters "
                   "(adds to its scope; --clear first empties it: alone, the whole project)")
@click.option("--email", required=True)
@click.option("--project", required=True, help="project id or name")
@click.option("--region", multiple=True, help="a region code such as TJ-SU (repeatable)")
@click.option("--centre", multiple=True,
              help="a support centre as the intake form names it, such as khujand (repeatable)")
@click.option("--submitter", multiple=True,
              help="an app user of the project by name, or a web user by email (repeatable)")
@click.option("--clear", is_flag=True, help="empty the scope before adding the values given")
def scope(email: str, project: str, region: tuple[str, ...], centre: tuple[str, ...],
          submitter: tuple[str, ...], clear: bool) -> None:
    run(_scope(email, project, region, centre, submitter, clear))


async def _scope(email: str, project_ref: str, regions: tuple[str, ...],
                 centres: tuple[str, ...], submitters: tuple[str, ...], clear: bool) -> None:
    from api.auth import normal_email
    from api.scopes import scope_of
    from api.services import scopes as scopes_service
    from db import users as users_db

    async with cli_connection(settings_from_env()) as conn:
        project = await find_project(conn, project_ref)
        with fail_on_problem("user scope"):
            row = await users_db.get_user_by_email(conn, normal_email(email))
            if row is None:
                fail(f"user scope: no user {email}")
            ids = [await scopes_service.submitter_by_name(conn, project["id"], name)
                   for name in submitters]
            given = scope_of(regions, centres, ids)
            if not clear:
                view = await scopes_service.scope_view(conn, row["id"], project["id"])
                given = scopes_service.merged(view, given)
            view = await scopes_service.set_user_scope(
                conn, None, project["id"], row["id"], regions=given.regions,
                centres=given.centres, submitter_ids=given.submitter_ids, operator=True)
    if not view.limited:
        click.echo(f"{email} reads the whole project {project['name']}")
        return
    parts = [*(f"region {r}" for r in view.regions), *(f"centre {c}" for c in view.centres),
             *(f"submitter {n}" for _, n in view.submitters)]
    click.echo(f"{email} reads in {project['name']}: " + ", ".join(parts))


COMMANDS = (user,)

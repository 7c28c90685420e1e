"""`fieldsurvey app-user`: app users (the phones)."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli._common import (
    cli_connection,
    fail,
    fail_on_problem,
    find_project,
    run,
    settings_from_env,
)


@click.group(name="app-user", help="app users (phones)")
def app_user() -> None:
    pass


@app_user.command(help="create an app user; print its Collect server URL and write a QR code")
@click.option("--project", required=True)
@click.option("--name", required=True)
@click.option(
    "--form", multiple=True, help="assign only this form (repeatable); default: all published"
)
@click.option("--centre", help="the support centre whose cases its phone gets, as the intake "
                                "form names it (such as khujand); default: every case")
@click.option("--qr", help="PNG file for the QR code (default app-user-ID.png)")
@click.option(
    "--base-url", help="server base URL phones use (default FIELDSURVEY_PUBLIC_URL or HOST:PORT)"
)
def create(project: str, name: str, form: tuple[str, ...], centre: str | None, qr: str | None,
           base_url: str | None) -> None:
    run(_create(project, name, form, qr, base_url, centre))


async def _create(project_ref: str, name: str, form_ids: tuple[str, ...], qr: str | None,
                  base_url: str | None, centre: str | None = None) -> None:
    from api.app_users import collect_server_url, collect_settings_payload, qr_png
    from api.services.app_users import published_form_ids, store_app_user

    settings = settings_from_env()
    base = base_url or settings.public_url or f"http://{settings.host}:{settings.port}"
    async with cli_connection(settings) as conn:
        project = await find_project(conn, project_ref)
        published = await published_form_ids(conn, project["id"])
        chosen = [f for f in published if not form_ids or f in form_ids]
        missing = set(form_ids) - set(chosen)
        if missing:
            fail(f"no published form {', '.join(sorted(missing))} in {project['name']}")
        with fail_on_problem("app-user"):
            row = await store_app_user(conn, project["id"], name, None, tuple(chosen), centre)
    server_url = collect_server_url(base, row["token"], project["id"])
    qr_path = Path(qr or f"app-user-{row['id']}.png")
    qr_path.write_bytes(qr_png(collect_settings_payload(server_url, project["name"])))
    click.echo(server_url)
    click.echo(
        f"app user {name!r} (id {row['id']}) may submit to: "
        + (", ".join(chosen) or "no forms yet")
        + (f"; its phone gets the cases of {row['centre']} only" if row["centre"] else ""),
        err=True,
    )
    click.echo(f"QR code for ODK Collect written to {qr_path}", err=True)


COMMANDS = (app_user,)

"""The `fieldsurvey` command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from api.settings import Settings


@asynccontextmanager
async def cli_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    from db.embedded import start_embedded_postgres
    from db.migrate import apply_migrations
    from db.pool import connect

    dsn = settings.database_url or start_embedded_postgres(settings.data_dir)
    conn = await connect(dsn)
    try:
        await apply_migrations(conn)
        yield conn
    finally:
        await conn.close()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    forwarded = args.forwarded_allow_ips or settings.forwarded_allow_ips
    print(f"fieldsurvey: listening on http://{host}:{port}/ ({workers} worker(s))", flush=True)
    options = dict(
        host=host,
        port=port,
        log_level="info",
        access_log=settings.access_log,
        # X-Forwarded-* only from proxies named by --forwarded-allow-ips (none by default)
        proxy_headers=bool(forwarded),
        forwarded_allow_ips=forwarded or "",
        date_header=False,  # the app sets Date itself (api/app.py)
    )
    supervisor = None
    started_here = False
    if not settings.database_url:
        # The embedded PostgreSQL is started here, once, supervised while serving, and
        # stopped on the way out (Ctrl-C, SIGTERM) if this command started it.
        from db.embedded import (
            EmbeddedSupervisor,
            embedded_postgres_running,
            start_embedded_postgres,
            stop_embedded_postgres,
        )

        started_here = not embedded_postgres_running(settings.data_dir)
        dsn = start_embedded_postgres(settings.data_dir)
        os.environ["DATABASE_URL"] = dsn  # worker processes build their settings from it
        settings = dataclasses.replace(settings, database_url=dsn)
        supervisor = EmbeddedSupervisor(settings.data_dir)
        supervisor.start()
    # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; with the default handlers
    # that kills the process before the `finally` below (and pgserver's atexit) could run.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_quietly)
    try:
        if workers > 1:
            # Each worker process builds its app from the environment (settings are passed in).
            uvicorn.run("api.app:app_from_env", factory=True, workers=workers, **options)
        else:
            uvicorn.run(create_app(settings), **options)
    finally:
        if supervisor is not None:
            supervisor.stop()
            if started_here:
                stop_embedded_postgres(settings.data_dir)
                print("fieldsurvey: stopped the embedded PostgreSQL", flush=True)
    return 0


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


async def _migrate(settings: Settings) -> None:
    from db.migrate import apply_migrations

    async with cli_connection(settings) as conn:
        applied = await apply_migrations(conn)
    print(
        "database is up to date"
        if not applied
        else "applied: " + ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
    )


async def _user_create(settings: Settings, args: argparse.Namespace) -> None:
    from api.auth import ROLES, check_new_password, digest_ha1, generate_password, hash_password
    from api.problems import Problem
    from db import audits, users

    if args.role != "admin" and args.role not in ROLES:
        raise SystemExit(f"--role must be admin or one of {', '.join(ROLES)}")
    if args.role != "admin" and not args.project:
        raise SystemExit("--project is needed for a project role")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        generated = False
    else:
        password, generated = generate_password(), True
    try:
        check_new_password(password)
    except Problem as exc:
        raise SystemExit(exc.detail) from exc
    async with cli_connection(settings) as conn:
        async with conn.transaction():
            user = await users.get_user_by_email(conn, args.email)
            if user is None:
                user = await users.create_user(
                    conn,
                    args.email,
                    hash_password(password),
                    is_admin=args.role == "admin",
                    digest_ha1=None if args.role == "admin" else digest_ha1(args.email, password),
                )
                await audits.log_audit(conn, None, "user.create", f"user/{user['id']}")
            elif args.password_stdin:
                await users.set_password_hash(
                    conn,
                    user["id"],
                    hash_password(password),
                    None if user["is_admin"] else digest_ha1(args.email, password),
                )
                generated = False
            else:
                generated = False
            if args.role != "admin":
                project = await _find_project(conn, args.project)
                await users.assign_role(conn, user["id"], project["id"], args.role)
                await audits.log_audit(
                    conn,
                    None,
                    "user.assignment.create",
                    f"user/{user['id']}",
                    {"projectId": project["id"], "role": args.role},
                )
    print(
        f"user {args.email} (id {user['id']}) has role {args.role}"
        + (f" in project {args.project}" if args.role != "admin" else "")
    )
    if generated:
        print(f"password (shown once): {password}")


async def _find_project(conn, ref: str):
    from db import projects

    row = await projects.get_project(conn, int(ref)) if ref.isdigit() else None
    if row is not None:
        return row
    named = await projects.projects_by_name(conn, ref)
    if not named:
        raise SystemExit(f"no project {ref!r}")
    if len(named) > 1:
        ids = ", ".join(str(r["id"]) for r in named)
        raise SystemExit(f"{len(named)} projects are named {ref!r} (ids {ids}); give the id")
    return named[0]


async def _project_create(settings: Settings, args: argparse.Namespace) -> None:
    from db import audits, projects

    async with cli_connection(settings) as conn:
        async with conn.transaction():
            row = await projects.create_project(conn, args.name, args.description)
            await audits.log_audit(conn, None, "project.create", f"project/{row['id']}")
    print(f"project {row['name']} has id {row['id']}")


def cmd_forms_compile(settings: Settings, args: argparse.Namespace) -> int:
    from forms.compile import FormCompileError, compile_xlsform

    path = Path(args.file)
    try:
        compiled = compile_xlsform(
            path.read_bytes(),
            file_type=path.suffix.lstrip(".") or "xlsx",
            ignore_warnings=args.ignore_warnings,
        )
    except FormCompileError as exc:
        print(f"{path}: {exc.kind}", file=sys.stderr)
        for problem in exc.problems:
            where = ", ".join(
                x
                for x in (
                    problem.sheet and f"sheet {problem.sheet}",
                    problem.row is not None and f"row {problem.row}",
                )
                if x
            )
            print(f"  {problem.message}" + (f" [{where}]" if where else ""), file=sys.stderr)
        return 1
    sys.stdout.write(compiled.xform)
    sys.stdout.write("\n")
    return 0


async def _forms_publish(settings: Settings, args: argparse.Namespace) -> int:
    from api.problems import Problem
    from api.services.forms import create_draft_and_publish_from_file
    from api.storage import attachment_store

    async with cli_connection(settings) as conn:
        project = await _find_project(conn, args.project)
        try:
            xml_form_id, version = await create_draft_and_publish_from_file(
                conn,
                project["id"],
                Path(args.file),
                ignore_warnings=args.ignore_warnings,
                version=args.version,
                store=attachment_store(settings),
            )
        except Problem as exc:
            print(f"{args.file}: {exc.slug}: {exc.detail}", file=sys.stderr)
            for problem in exc.extra.get("problems", []):
                print(f"  {problem['message']}", file=sys.stderr)
            return 1
    print(f"published {xml_form_id} version {version} in project {project['name']}")
    return 0


async def _app_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from api.app_users import collect_server_url, collect_settings_payload, qr_png
    from api.services.app_users import store_app_user
    from db import forms as forms_db
    from db import users

    base = args.base_url or settings.public_url or f"http://{settings.host}:{settings.port}"
    async with cli_connection(settings) as conn:
        project = await _find_project(conn, args.project)
        row = await store_app_user(conn, project["id"], args.name, None)
        published = [f for f in await forms_db.list_forms(conn, project["id"]) if f["current_def_id"]]
        chosen = [f for f in published if not args.form or f["xml_form_id"] in args.form]
        missing = set(args.form or ()) - {f["xml_form_id"] for f in chosen}
        if missing:
            raise SystemExit(f"no published form {', '.join(sorted(missing))} in {project['name']}")
        for form in chosen:
            await users.assign_form(conn, row["id"], form["id"])
    server_url = collect_server_url(base, row["token"], project["id"])
    qr_path = Path(args.qr or f"app-user-{row['id']}.png")
    qr_path.write_bytes(qr_png(collect_settings_payload(server_url, project["name"])))
    print(server_url)
    print(
        f"app user {args.name!r} (id {row['id']}) may submit to: "
        + (", ".join(f["xml_form_id"] for f in chosen) or "no forms yet"),
        file=sys.stderr,
    )
    print(f"QR code for ODK Collect written to {qr_path}", file=sys.stderr)
    return 0


async def _reclassify(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from api.reclassify import reclassify_screenings
    from db import submissions as submissions_db
    from forms.rubric import RUBRIC_VERSION
    from forms.screening import RISK_SCREENING_FORM_ID

    async with cli_connection(settings) as conn:
        project_id = (await _find_project(conn, args.project))["id"] if args.project else None
        total = await submissions_db.count_screening_submissions(
            conn, RISK_SCREENING_FORM_ID, project_id
        )
        with tqdm(total=total, unit="screening", desc=f"rubric {RUBRIC_VERSION}") as bar:
            visited = await reclassify_screenings(
                conn, project_id=project_id, batch_size=args.batch_size, on_progress=bar.update
            )
    print(f"re-classified {visited} screenings with rubric {RUBRIC_VERSION}")
    return 0


async def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from api.services.publications import publish_all_due

    async with cli_connection(settings) as conn:
        project_ids = [(await _find_project(conn, args.project))["id"]] if args.project else None
        for publication in await publish_all_due(conn, settings, project_ids=project_ids):
            print(f"project {publication.project_id}: publication through {publication.label} "
                  f"(made {publication.published_at:%Y-%m-%d %H:%M} UTC)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fieldsurvey", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve HTTP (HOST, PORT)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="worker processes (FIELDSURVEY_WORKERS, default 1)")
    serve.add_argument(
        "--forwarded-allow-ips",
        help="proxies trusted for X-Forwarded-Proto (FIELDSURVEY_FORWARDED_ALLOW_IPS; none by default)",
    )

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("migrate", help="apply the migrations")

    user = sub.add_parser("user", help="web users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    user_create = user_sub.add_parser("create", help="create a user or give a role")
    user_create.add_argument("--email", required=True)
    user_create.add_argument(
        "--role", required=True, help="admin, manager, researcher, ministry or collector"
    )
    user_create.add_argument("--project", help="project id or name (for project roles)")
    user_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else one is generated)",
    )

    project = sub.add_parser("project", help="projects")
    project_sub = project.add_subparsers(dest="project_command", required=True)
    project_create = project_sub.add_parser("create", help="create a project")
    project_create.add_argument("name")
    project_create.add_argument("--description")

    forms = sub.add_parser("forms", help="XLSForms")
    forms_sub = forms.add_subparsers(dest="forms_command", required=True)
    compile_ = forms_sub.add_parser("compile", help="print the XForm of an XLSForm, or its errors")
    compile_.add_argument("file")
    compile_.add_argument("--ignore-warnings", action="store_true")
    publish = forms_sub.add_parser("publish", help="upload and publish an XLSForm or XForm")
    publish.add_argument("file")
    publish.add_argument("--project", required=True)
    publish.add_argument("--version", help="publish under this version string")
    publish.add_argument("--ignore-warnings", action="store_true")
    app_user = sub.add_parser("app-user", help="app users (phones)")
    app_user_sub = app_user.add_subparsers(dest="app_user_command", required=True)
    app_user_create = app_user_sub.add_parser(
        "create", help="create an app user; print its Collect server URL and write a QR code"
    )
    app_user_create.add_argument("--project", required=True)
    app_user_create.add_argument("--name", required=True)
    app_user_create.add_argument(
        "--form", action="append", help="assign only this form (repeatable); default: all published"
    )
    app_user_create.add_argument("--qr", help="PNG file for the QR code (default app-user-ID.png)")
    app_user_create.add_argument(
        "--base-url", help="server base URL phones use (default FIELDSURVEY_PUBLIC_URL or HOST:PORT)"
    )
    reclassify = sub.add_parser(
        "reclassify", help="re-apply the current rubric to every stored risk screening"
    )
    reclassify.add_argument("--project", help="project id or name (default: all projects)")
    reclassify.add_argument("--batch-size", type=int, default=1000)
    publish_ = sub.add_parser(
        "publish", help="make the due monthly publications of summaries (what ministries see)"
    )
    publish_.add_argument("--project", help="project id or name (default: every project with data)")
    from api.export_cli import add_export_parser

    add_export_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    if args.command == "serve":
        return cmd_serve(settings, args)
    if args.command == "db":
        asyncio.run(_migrate(settings))
        return 0
    if args.command == "user":
        asyncio.run(_user_create(settings, args))
        return 0
    if args.command == "project":
        asyncio.run(_project_create(settings, args))
        return 0
    if args.command == "forms" and args.forms_command == "compile":
        return cmd_forms_compile(settings, args)
    if args.command == "publish":
        return asyncio.run(_publish(settings, args))
    if args.command == "reclassify":
        return asyncio.run(_reclassify(settings, args))
    if args.command == "app-user":
        return asyncio.run(_app_user_create(settings, args))
    if args.command == "forms" and args.forms_command == "publish":
        return asyncio.run(_forms_publish(settings, args))
    if args.command == "export":
        from api.export_cli import cmd_export

        return cmd_export(settings, args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

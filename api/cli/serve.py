"""`fieldsurvey serve`: the HTTP server (uvicorn), with the embedded PostgreSQL when no
DATABASE_URL is set."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile

import click

from api.cli._common import cli_connection, run, settings_from_env
from api.settings import Settings


@click.command(help="serve HTTP (HOST, PORT)")
@click.option("--host")
@click.option("--port", type=int)
@click.option("--workers", type=int, help="worker processes (FIELDSURVEY_WORKERS, default 1)")
@click.option(
    "--forwarded-allow-ips",
    help="proxies trusted for X-Forwarded-Proto (FIELDSURVEY_FORWARDED_ALLOW_IPS; none by default)",
)
def serve(host: str | None, port: int | None, workers: int | None,
          forwarded_allow_ips: str | None) -> None:
    import uvicorn

    from api.app import create_app

    settings = settings_from_env()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    forwarded = forwarded_allow_ips or settings.forwarded_allow_ips
    click.echo(f"fieldsurvey: listening on http://{host}:{port}/ ({workers} worker(s))")
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
    metrics_dir = None
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
        # The schema first, once, here (each worker's startup then finds it done): a database
        # that a newer release migrated stops the command with the reason and exit code 1 (with
        # several workers uvicorn would exit 0 after their failed startups).
        run(_migrate(settings))
        if workers > 1:
            # /metrics sums the workers' counts, kept in files in a fresh folder (api/metrics.py)
            metrics_dir = tempfile.mkdtemp(prefix="fieldsurvey-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            # Each worker process builds its app from the environment (settings are passed in).
            uvicorn.run("api.app:app_from_env", factory=True, workers=workers, **options)
        else:
            uvicorn.run(create_app(settings), **options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if supervisor is not None:
            supervisor.stop()
            if started_here:
                stop_embedded_postgres(settings.data_dir)
                click.echo("fieldsurvey: stopped the embedded PostgreSQL")


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


async def _migrate(settings: Settings) -> None:
    async with cli_connection(settings):  # applies the migrations (db/migrate.py)
        pass


COMMANDS = (serve,)

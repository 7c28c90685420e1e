"""The embedded PostgreSQL server (PyPI `pgserver`), started in a data folder.

Used when DATABASE_URL is not set. The server outlives a crashed app process (it is a
separate postmaster), so a restart finds it running and reconnects. `fieldsurvey serve`
supervises it (`EmbeddedSupervisor`: restarted within seconds when it dies) and stops it on
exit when it started it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_servers: dict[Path, object] = {}


def start_embedded_postgres(data_dir: Path | str) -> str:
    """Start (or attach to) the embedded PostgreSQL in `<data_dir>/pg`; return its URL."""
    pgdata = Path(data_dir).resolve() / "pg"
    if "XDG_RUNTIME_DIR" not in os.environ:  # pgserver's platformdirs wants a private one
        runtime = Path(data_dir).resolve() / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pgserver  # imported here: only needed when no DATABASE_URL is given

    # pgserver logs every command it runs (initdb's whole output) at INFO; keep its warnings.
    logging.getLogger("pgserver").setLevel(logging.WARNING)

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        # cleanup_mode="stop": pgserver counts the processes using the server across processes
        # and stops it when the last one exits; a process killed with -9 leaves it running.
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        log.info("embedded PostgreSQL running in %s", pgdata)
    return server.get_uri()


def stop_embedded_postgres(data_dir: Path | str) -> None:
    import subprocess

    import pgserver

    pgdata = Path(data_dir).resolve() / "pg"
    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run([str(pg_ctl), "-D", str(pgdata), "-m", "fast", "stop"], check=False)
    _servers.pop(pgdata, None)


def embedded_postgres_running(data_dir: Path | str) -> bool:
    """A postmaster is running in `<data_dir>/pg` (its postmaster.pid names a live process).

    A killed postmaster stays a zombie until its parent (init, once pg_ctl has exited) reaps
    it, which takes seconds on a loaded machine: a zombie is not running."""
    import psutil
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(Path(data_dir).resolve() / "pg")
    if info is None or not info.is_running():
        return False
    try:
        return info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _forget_dead_postmaster(data_dir: Path | str) -> None:
    """Remove the postmaster.pid of a postmaster that is dead or a zombie. PostgreSQL refuses
    to start while the pid it names exists (a zombie does) and pgserver takes the file for a
    running server; PostgreSQL's own shared-memory check still refuses a start while any old
    backend lives."""
    pid_file = Path(data_dir).resolve() / "pg" / "postmaster.pid"
    if pid_file.exists() and not embedded_postgres_running(data_dir):
        pid_file.unlink(missing_ok=True)


class EmbeddedSupervisor:
    """Checks every `interval` seconds that the embedded PostgreSQL runs; starts it again
    when it died (killed, crashed). One per `fieldsurvey serve`, in its main process."""

    def __init__(self, data_dir: Path | str, *, interval: float = 2.0):
        self.data_dir = data_dir
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-supervisor", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if embedded_postgres_running(self.data_dir):
                    continue
                log.warning("embedded PostgreSQL is not running; starting it again")
                _forget_dead_postmaster(self.data_dir)
                pgdata = Path(self.data_dir).resolve() / "pg"
                server = _servers.get(pgdata)
                if server is None:
                    start_embedded_postgres(self.data_dir)
                else:
                    server.ensure_postgres_running()
                self.restarts += 1
                log.warning("embedded PostgreSQL is running again")
            except Exception:  # keep supervising: the next round tries again
                log.exception("could not start the embedded PostgreSQL")

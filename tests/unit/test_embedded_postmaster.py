"""The supervisor's view of the embedded PostgreSQL: a killed postmaster that is not yet
reaped (a zombie) is not running, and its postmaster.pid is forgotten so that a new server
can start (PostgreSQL refuses to start while the pid it names exists)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil

from db.embedded import _forget_dead_postmaster, embedded_postgres_running


def _pid_file(data_dir: Path, pid: int) -> Path:
    pgdata = data_dir / "pg"
    pgdata.mkdir(parents=True)
    pid_file = pgdata / "postmaster.pid"
    # the eight lines PostgreSQL writes: pid, data folder, start time, port, socket folder,
    # listen address, shared memory key and id, status
    pid_file.write_text(
        f"{pid}\n{pgdata}\n{int(time.time())}\n5432\n{pgdata}\n\n  5972864    229438\nready   \n"
    )
    return pid_file


def test_a_zombie_postmaster_is_not_running_and_its_pid_file_is_forgotten(tmp_path):
    child = subprocess.Popen(["true"])  # exits at once; not waited for, it stays a zombie
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        pid_file = _pid_file(tmp_path, child.pid)
        assert not embedded_postgres_running(tmp_path)
        _forget_dead_postmaster(tmp_path)
        assert not pid_file.exists()
    finally:
        child.wait()


def test_a_live_postmaster_is_running_and_kept(tmp_path):
    pid_file = _pid_file(tmp_path, os.getpid())
    assert embedded_postgres_running(tmp_path)
    _forget_dead_postmaster(tmp_path)
    assert pid_file.exists()

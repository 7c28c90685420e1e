"""Backup benchmark: N risk screenings (default 100k) and F attachment files (default 10k of
100 kB, about 1 GB), backed up (`fieldsurvey backup`'s service, encrypted) and restored into a
new database and store.

Prints, for the backup and the restore: seconds, MB/s of the backup file, its size, and the
peak RSS of the process that did it (each runs in a fresh child process). The issue's targets:
a backup at 50 MB/s or more, a restore within twice the backup's time.

    python bench/backup.py [-n 100000] [--files 10000] [--file-kb 100]

Uses DATABASE_URL's server, or the embedded PostgreSQL of the benchmarks; the databases made
are dropped, the files are in a temporary folder (needs about 3x the files' size on disk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.services import backup as service  # noqa: E402
from api.storage.local import LocalAttachmentStore  # noqa: E402
from bench.harness import create_database, database_server, drop_database  # noqa: E402
from db.migrate import apply_migrations  # noqa: E402
from db.pool import connect  # noqa: E402
from tests.integration.test_exports_scale import (  # noqa: E402
    generate_risk_screenings,
    load_risk_screening_target,
)

PASSPHRASE = "bench passphrase, not a secret"
MB = 1e6

# every F-th screening's current version gets one photo (the keys in order)
ATTACH = """
INSERT INTO submission_attachments (version_id, name, blob_key, content_type, size, uploaded_at)
SELECT v.id, 'photo.jpg', k.key, 'image/jpeg', $3, now()
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM submission_versions
      WHERE form_def_id = $2 ORDER BY id LIMIT cardinality($1::text[])) AS v
JOIN unnest($1::text[]) WITH ORDINALITY AS k(key, n) ON k.n = v.n
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def prepare(dsn: str, n: int, files: int, file_kb: int, store_dir: str) -> None:
    conn = await connect(dsn)
    try:
        await apply_migrations(conn)
        project_id = await conn.fetchval("INSERT INTO projects (name) VALUES ('bench') RETURNING id")
        form_id, def_id, schema = await load_risk_screening_target(conn, project_id)
        started = time.perf_counter()
        await generate_risk_screenings(conn, form_id, def_id, schema, n)
        print(f"generated {n} risk screenings in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        store = LocalAttachmentStore(store_dir)
        keys = [await store.put(os.urandom(file_kb * 1024)) for _ in range(files)]
        await conn.execute(ATTACH, keys, def_id, file_kb * 1024)
        print(f"stored {files} files of {file_kb} kB ({files * file_kb * 1024 / MB:.0f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


async def child_backup(dsn: str, store_dir: str, out: str) -> dict:
    started = time.perf_counter()
    summary = await service.write_backup(dsn, LocalAttachmentStore(store_dir), Path(out),
                                         PASSPHRASE)
    return {"seconds": time.perf_counter() - started, "bytes": summary.bytes,
            "attachments": summary.attachments, "peak_rss_mb": peak_rss_mb()}


async def child_restore(path: str, dsn: str, store_dir: str) -> dict:
    started = time.perf_counter()
    restored = await service.restore_backup(path, PASSPHRASE, dsn, LocalAttachmentStore(store_dir))
    return {"seconds": time.perf_counter() - started, "attachments": restored.attachments,
            "rows": sum(restored.counts.values()), "peak_rss_mb": peak_rss_mb()}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--file-kb", type=int, default=100)
    parser.add_argument("--child-backup", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-restore", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_backup:
        print(json.dumps(asyncio.run(child_backup(*args.child_backup))))
        return
    if args.child_restore:
        print(json.dumps(asyncio.run(child_restore(*args.child_restore))))
        return
    server = database_server()
    with tempfile.TemporaryDirectory(prefix="fieldsurvey-bench-backup-") as tmp:
        source, source_name = asyncio.run(create_database(server))
        target, target_name = asyncio.run(create_database(server))
        try:
            asyncio.run(prepare(source, args.n, args.files, args.file_kb, f"{tmp}/source"))
            out = f"{tmp}/bench.fsbackup"
            made = run_child("--child-backup", source, f"{tmp}/source", out)
            back = run_child("--child-restore", out, target, f"{tmp}/target")
        finally:
            asyncio.run(drop_database(server, source_name))
            asyncio.run(drop_database(server, target_name))
    size = made["bytes"] / MB
    print(f"{'':8} {'seconds':>8} {'MB/s':>7} {'file MB':>8} {'peak RSS MB':>11}")
    print(f"{'backup':8} {made['seconds']:>8.1f} {size / made['seconds']:>7.1f} {size:>8.0f} "
          f"{made['peak_rss_mb']:>11.0f}")
    print(f"{'restore':8} {back['seconds']:>8.1f} {size / back['seconds']:>7.1f} {size:>8.0f} "
          f"{back['peak_rss_mb']:>11.0f}")
    print(f"{made['attachments']} attachments, {back['rows']} rows restored; restore/backup "
          f"time {back['seconds'] / made['seconds']:.2f} (target <= 2), backup "
          f"{size / made['seconds']:.0f} MB/s (target >= 50)")


if __name__ == "__main__":
    main()

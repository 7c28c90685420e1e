"""Backups that restore: one file with everything needed to bring the server back.

A backup is one consistent snapshot of the database (PostgreSQL's own `pg_dump`, custom
format, taken with `--snapshot` from a REPEATABLE READ transaction of ours), every stored file
that snapshot refers to (read through the configured AttachmentStore), and a manifest. The
server secrets (Digest nonces, CSRF, case record keys) live in the database, so tokens,
passwords, Digest logins and publications' record keys come back with it.

The file (api/services/backup_file.py; docs/backups.md for operators) is a tar of
`header.json` (read first: a backup of a newer version or of another kind of store is refused
before anything is touched), `attachments/<key>`, `database/dump.NNNNNN` (pg_dump's output in
parts, so that memory stays flat) and `manifest.json` (counts per table, every SHA-256).

Encryption: age (pyrage, the Rust `rage` implementation). age's payload is the STREAM
construction (ChaCha20-Poly1305 in 64 KiB chunks, the last one marked), so decryption is
streamed, a changed byte or a cut-off end is detected, and nothing is hand-made here. pyrage
streams (`encrypt_io`) only to X25519 recipients and takes a passphrase (scrypt, memory-hard,
work factor 2^18) only for whole byte strings, so a backup is encrypted to a fresh X25519
identity and that identity (74 bytes) is encrypted with the passphrase.

With the PostgreSQL attachment store (FIELDSURVEY_ATTACHMENTS=postgres) the files are rows of
the database (attachment_blobs), so the dump holds them and no `attachments/` member is
written; the manifest still lists every file's SHA-256, checked after pg_restore (a mismatch
empties the target again).

Restore goes into an empty database and an empty store. Files are put first, the dump is piped
into `pg_restore --single-transaction` last and its input is closed (so it commits) only once
the whole file has been read, authenticated and checked against the manifest. Any failure
before that (wrong passphrase, a damaged or truncated file, a full disk) kills pg_restore (its
transaction is rolled back) and deletes the files put: the target is left as it was, empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from api.services.backup_file import (
    BACKUP_NAME_RE,
    BACKUP_SUFFIX,
    CHUNK,
    FORMAT,
    KIND_AGE,
    KIND_PLAIN,
    MAGIC,
    PART_SIZE,
    BackupError,
    EncryptingPipe,
    Members,
    add_bytes,
    check_header,
    check_manifest,
    count_copy_rows,
    damaged,
    disk_error,
    drain,
    fieldsurvey_version,
    find_pg_tool,
    json_bytes,
    libpq_dsn,
    open_backup,
    read_backup,
    read_header,
    restore_failed,
)
from api.storage import AttachmentStore
from db import backups as backups_db
from db import blobs as blobs_db
from db.pool import connect


@dataclass
class BackupSummary:
    path: Path
    snapshot_at: datetime
    bytes: int
    attachments: int
    attachment_bytes: int
    database_bytes: int
    encrypted: bool
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class VerifySummary:
    header: dict
    attachments: int
    attachment_bytes: int
    database_bytes: int
    counts: dict[str, int]


async def newest_backup_time(conn: asyncpg.Connection) -> datetime | None:
    """The snapshot time of the newest finished backup (None: never backed up). For /metrics
    and the admin pages."""
    return await backups_db.newest_backup(conn)


def backup_is_overdue(newest: datetime | None, now: datetime, *, days: float = 2) -> bool:
    """The admin pages warn when the newest backup is older than two days (or there is none)."""
    return newest is None or (now - newest).total_seconds() > days * 86400


def read_passphrase_file(path: Path | str) -> str:
    """The passphrase: the file's first line, without its line end; never empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError("passphrase-unreadable", f"cannot read the passphrase file {path}: {exc.strerror}") from exc
    passphrase = text.splitlines()[0] if text else ""
    if not passphrase:
        raise BackupError("passphrase-missing", f"the passphrase file {path} is empty")
    return passphrase


# ---------------------------------------------------------------------------------------------
# writing

def default_backup_name(now: datetime) -> str:
    return f"fieldsurvey-{now:%Y%m%dT%H%M%SZ}{BACKUP_SUFFIX}"


async def write_backup(
    dsn: str,
    store: AttachmentStore,
    output: Path | str,
    passphrase: str | None,
    *,
    pg_bin_dir: Path | str | None = None,
    after_snapshot=None,
) -> BackupSummary:
    """Write the backup of the database at `dsn` and of `store` to `output` (a file; written
    under a temporary name beside it, fsynced and renamed when complete), encrypted with
    `passphrase` (None: in clear, which the CLI allows only with --no-encryption), and record
    it in the database (`newest_backup_time`). `after_snapshot` (tests): awaited once the
    snapshot is taken."""
    output = Path(output)
    if output.is_dir():
        output = output / default_backup_name(datetime.now(UTC))
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    conn = await connect(dsn)
    fh = sink = None
    finished = False
    try:
        pg_dump = find_pg_tool("pg_dump", await backups_db.server_version(conn) // 10000, pg_bin_dir)
        await blobs_db.hold_against_deletion(conn)  # no sweep deletes a file the snapshot needs
        fh, sink = await _open_output(partial, passphrase)
        tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await backups_db.export_snapshot(conn)
            if after_snapshot is not None:
                await after_snapshot()
            header = await _header(conn, store, snapshot, encrypted=passphrase is not None)
            counts = await backups_db.count_rows_per_table(conn)
            keys = list(dict.fromkeys(
                [key async for batch in blobs_db.referenced_keys(conn) for key in batch]))
            try:
                add_bytes(tar, "header.json", json_bytes(header))
                attachments = await _write_attachments(tar, store, keys)
                dump = await _dump_into(tar, pg_dump, dsn, snapshot["snapshot"])
                manifest = {**header, "counts": counts, "attachments": attachments,
                            "secrets": "in the database (table server_secrets)", "database": dump}
                add_bytes(tar, "manifest.json", json_bytes(manifest))
                tar.close()
                if sink is not fh:
                    sink.close()
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise disk_error(exc, f"writing {partial}") from exc
        fh.close()
        os.replace(partial, output)
        _fsync_dir(output.parent)
        finished = True
        size = output.stat().st_size
        await backups_db.record_backup(conn, snapshot["taken_at"], output.name, size, len(keys),
                                       header["encrypted"])
    finally:
        if not finished:
            if isinstance(sink, EncryptingPipe):
                sink.abort()
            if fh is not None:
                fh.close()
            partial.unlink(missing_ok=True)
        await conn.close()
    return BackupSummary(
        path=output, snapshot_at=snapshot["taken_at"], bytes=size, attachments=len(keys),
        attachment_bytes=sum(a["bytes"] for a in attachments.values()),
        database_bytes=dump["bytes"], encrypted=header["encrypted"], counts=counts,
    )


async def _open_output(partial: Path, passphrase: str | None):
    """The new file (mode 0600) with its first line, and where the tar goes: an age
    encryption to a fresh identity, itself encrypted with the passphrase; or the file."""
    try:
        fh = open(partial, "xb")  # noqa: SIM115 (the caller closes it, on every path)
        os.chmod(partial, 0o600)
    except OSError as exc:
        raise disk_error(exc, f"cannot write {partial}") from exc
    try:
        if passphrase is None:
            fh.write(MAGIC + KIND_PLAIN + b"\n")
            return fh, fh
        from pyrage import passphrase as age_passphrase
        from pyrage import x25519

        identity = x25519.Identity.generate()
        wrapped = await asyncio.to_thread(
            age_passphrase.encrypt, str(identity).encode("ascii"), passphrase
        )
        fh.write(MAGIC + KIND_AGE + b"\n" + b"%d\n" % len(wrapped) + wrapped)
        return fh, EncryptingPipe(fh, identity.to_public())
    except OSError as exc:
        fh.close()
        raise disk_error(exc, f"writing {partial}") from exc
    except BaseException:
        fh.close()
        raise


async def _header(conn, store: AttachmentStore, snapshot, *, encrypted: bool) -> dict:
    return {
        "format": FORMAT,
        "fieldsurvey": fieldsurvey_version(),
        "migration": await backups_db.migration_level(conn),
        "attachmentStore": store.kind,
        "attachmentsInDatabase": _files_in_database(store),
        "snapshotAt": snapshot["taken_at"].isoformat(),
        "encrypted": encrypted,
    }


async def _write_attachments(tar: tarfile.TarFile, store: AttachmentStore, keys: list[str]) -> dict:
    """Each file as a member (unless the dump holds them); {key: {sha256, bytes}}."""
    in_database = _files_in_database(store)
    attachments = {}
    for key in keys:
        try:
            data = await store.get(key)
        except FileNotFoundError as exc:
            raise BackupError(
                "attachment-missing",
                f"the attachment store has no file {key}, which the database refers to: the "
                "store is damaged; no backup was written",
            ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if not in_database:
            add_bytes(tar, f"attachments/{key}", data, digest)
        attachments[key] = {"sha256": digest, "bytes": len(data)}
    return attachments


PUTS_AT_ONCE = 16  # attachment files a restore puts at once


def _files_in_database(store: AttachmentStore) -> bool:
    """The store keeps its files in the database itself (so pg_dump holds them)."""
    return store.kind == "postgres"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _dump_into(tar: tarfile.TarFile, pg_dump: str, dsn: str, snapshot: str) -> dict:
    """pg_dump of the snapshot into tar members of PART_SIZE; its size and SHA-256."""
    url, env = libpq_dsn(dsn)
    proc = await asyncio.create_subprocess_exec(
        pg_dump, "--format=custom", "--compress=1", "--no-owner", "--no-privileges",
        f"--snapshot={snapshot}", f"--dbname={url}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    errors = asyncio.ensure_future(drain(proc.stderr))
    whole = hashlib.sha256()
    total = 0
    parts = 0
    try:
        buffer = bytearray()
        while True:
            chunk = await proc.stdout.read(CHUNK)
            if chunk:
                buffer += chunk
            if len(buffer) >= PART_SIZE or (not chunk and buffer):
                part = bytes(buffer[:PART_SIZE])
                del buffer[:PART_SIZE]
                whole.update(part)
                total += len(part)
                add_bytes(tar, f"database/dump.{parts:06d}", part, hashlib.sha256(part).hexdigest())
                parts += 1
            if not chunk and not buffer:
                break
        code = await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    stderr = (await errors).decode("utf-8", "replace").strip()
    if code != 0:
        raise BackupError("pg-dump-failed", f"pg_dump failed ({code}): {stderr}")
    return {"sha256": whole.hexdigest(), "bytes": total, "parts": parts}


def prune_backups(folder: Path | str, keep: int) -> list[Path]:
    """Delete the oldest backups named as `default_backup_name` names them in `folder`,
    keeping the newest `keep`; the files deleted."""
    if keep < 1:
        raise BackupError("keep-invalid", "--keep must be at least 1")
    found = sorted(p for p in Path(folder).iterdir() if BACKUP_NAME_RE.match(p.name))
    gone = found[: max(0, len(found) - keep)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


@dataclass
class BucketCopy:
    url: str
    deleted: list[str]


async def copy_to_bucket(path: Path, where: str, keep: int | None = None) -> BucketCopy:
    """Upload the backup to `s3://bucket[/prefix]?endpoint=URL&region=R` with the S3 attachment
    store's client (boto3's multipart upload: memory stays flat); with `keep`, delete all but
    the newest `keep` backups named like it under the prefix."""
    from botocore.exceptions import BotoCoreError, ClientError

    from api.storage import parse_s3_url
    from api.storage.s3 import S3AttachmentStore

    try:
        location = parse_s3_url(where)
    except ValueError as exc:
        raise BackupError("bucket-invalid", str(exc)) from exc
    client = S3AttachmentStore(location).client
    name = location.prefix + path.name

    def upload() -> list[str]:
        client.upload_file(str(path), location.bucket, name)
        if keep is None:
            return []
        found = []
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=location.bucket, Prefix=location.prefix):
            for item in page.get("Contents", []):
                tail = item["Key"][len(location.prefix):]
                if BACKUP_NAME_RE.match(tail):
                    found.append(item["Key"])
        gone = sorted(found)[: max(0, len(found) - keep)]
        for key in gone:
            client.delete_object(Bucket=location.bucket, Key=key)
        return gone

    try:
        deleted = await asyncio.to_thread(upload)
    except (BotoCoreError, ClientError) as exc:
        raise BackupError("bucket-failed", f"the copy to {where} failed (the backup file "
                          f"{path} is complete): {exc}") from exc
    return BucketCopy(f"s3://{location.bucket}/{name}", deleted)


async def verify_backup(
    path: Path | str, passphrase: str | None, *, pg_bin_dir: Path | str | None = None
) -> VerifySummary:
    """Read the whole backup without restoring it: decrypt (age authenticates every chunk and
    the end), check every member's SHA-256 against the manifest, and count the dump's rows per
    table (pg_restore's data as text) against the manifest's counts."""
    restore = None
    counter = errors = None

    async def count_rows(data: bytes) -> None:
        nonlocal restore, counter, errors
        if restore is None:
            pg_restore = find_pg_tool("pg_restore", None, pg_bin_dir)
            restore = await asyncio.create_subprocess_exec(
                pg_restore, "--data-only", "--file=-",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            counter = asyncio.ensure_future(count_copy_rows(restore.stdout))
            # a counter that failed reads no more: pg_restore is stopped, not left blocked
            counter.add_done_callback(lambda task: task.exception() and restore.kill())
            errors = asyncio.ensure_future(drain(restore.stderr))
        restore.stdin.write(data)
        await restore.stdin.drain()

    async def skip(key: str, data: bytes) -> None:
        return None

    try:
        with open_backup(path, passphrase) as (stream, finish):
            members = Members(stream)
            header = await read_header(members)
            check_header(header, None)
            attachments, dump, manifest = await read_backup(members, finish, skip, count_rows)
        if header.get("attachmentsInDatabase") and not attachments:
            # the files are rows of the dump: their count is checked, their hashes on restore
            attachments = manifest.get("attachments")
        expected = check_manifest(manifest, header, attachments, dump)
        if restore is None:
            raise damaged("it holds no database")
        restore.stdin.close()
        counted = await counter
        if await restore.wait() != 0:
            raise damaged(f"pg_restore cannot read the dump: {(await errors).decode(errors='replace')}")
    finally:
        if restore is not None and restore.returncode is None:
            restore.kill()
            await restore.wait()
    counted = {name: counted.get(name, 0) for name in expected}
    if counted != expected:
        wrong = sorted(n for n in expected if counted[n] != expected[n])
        raise damaged(f"row counts differ from the manifest's for {', '.join(wrong)}")
    return VerifySummary(
        header=header,
        attachments=len(attachments),
        attachment_bytes=sum(a["bytes"] for a in attachments.values()),
        database_bytes=dump["bytes"],
        counts=counted,
    )


async def _store_is_empty(store: AttachmentStore) -> bool:
    async for _ in store.keys():
        return False
    return True


class _PgRestore:
    """pg_restore --single-transaction into the target, fed part by part; its input is closed
    (so it commits) only by commit(); kill() ends it (its transaction is rolled back)."""

    def __init__(self, pg_restore: str, dsn: str):
        self.pg_restore, self.dsn = pg_restore, dsn
        self.process = self.errors = None

    async def write(self, data: bytes) -> None:
        if self.process is None:
            url, env = libpq_dsn(self.dsn)
            # one transaction that commits once: its indexes are built with more memory, and
            # nothing waits for a flush before the commit
            env["PGOPTIONS"] = " ".join(filter(None, (
                env.get("PGOPTIONS"), "-c maintenance_work_mem=256MB",
                "-c synchronous_commit=off")))
            self.process = await asyncio.create_subprocess_exec(
                self.pg_restore, "--single-transaction", "--exit-on-error", "--no-owner",
                "--no-privileges", f"--dbname={url}",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env=env,
            )
            self.errors = asyncio.ensure_future(drain(self.process.stderr))
        try:
            self.process.stdin.write(data)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            await self.process.wait()
            raise restore_failed(await self.errors) from exc

    async def commit(self) -> None:
        if self.process is None:
            raise damaged("it holds no database")
        self.process.stdin.close()
        if await self.process.wait() != 0:
            raise restore_failed(await self.errors)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()  # its connection goes, and with it the uncommitted transaction
            await self.process.wait()


async def _refuse_unless_empty(conn: asyncpg.Connection, store: AttachmentStore) -> None:
    if not await backups_db.database_is_empty(conn):
        raise BackupError(
            "target-not-empty",
            "the database is not empty: restore only into a new, empty database (createdb); "
            "nothing was changed",
        )
    if not _files_in_database(store) and not await _store_is_empty(store):
        raise BackupError(
            "target-not-empty",
            f"the {store.kind!r} attachment store is not empty: restore only into an empty one; "
            "nothing was changed",
        )


async def _check_restored(conn, store: AttachmentStore, attachments: dict, expected: dict,
                          *, files_in_dump: bool) -> dict[str, int]:
    """After the commit: the files the dump held match the manifest, and so do the counts."""
    if files_in_dump:
        for key, described in attachments.items():
            try:
                data = await store.get(key)
            except FileNotFoundError:
                data = b""
            if {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} != described:
                raise damaged(f"attachment {key} restored from the dump does not match its SHA-256")
    counted = await backups_db.count_rows_per_table(conn)
    counted = {name: counted.get(name, 0) for name in expected}
    if counted != expected:
        wrong = sorted(n for n in expected if counted[n] != expected[n])
        raise BackupError(
            "restore-failed",
            f"the restored row counts differ from the manifest's ({', '.join(wrong)}); the "
            "target was emptied again",
        )
    return counted


async def restore_backup(
    path: Path | str,
    passphrase: str | None,
    dsn: str,
    store: AttachmentStore,
    *,
    pg_bin_dir: Path | str | None = None,
) -> VerifySummary:
    """Restore into an empty database (`dsn`) and an empty `store`; see the module's note."""
    conn = await connect(dsn)
    put: list[str] = []
    pending: set[asyncio.Task] = set()
    restore = None
    committed = False
    try:
        await _refuse_unless_empty(conn, store)
        server_major = await backups_db.server_version(conn) // 10000
        restore = _PgRestore(find_pg_tool("pg_restore", server_major, pg_bin_dir), dsn)

        async def put_one(key: str, data: bytes) -> None:
            try:
                stored = await store.put(data)
            except OSError as exc:
                raise disk_error(exc, f"putting attachment {key} into the store") from exc
            put.append(stored)
            if stored != key:
                raise damaged(f"attachment {key} is stored under another key")

        async def put_attachment(key: str, data: bytes) -> None:
            # a few at once: each put is durable on its own (an fsync), and they overlap
            while len(pending) >= PUTS_AT_ONCE:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    pending.discard(task)
                    task.result()
            pending.add(asyncio.ensure_future(put_one(key, data)))

        with open_backup(path, passphrase) as (stream, finish):
            members = Members(stream)
            header = await read_header(members)
            check_header(header, store.kind)
            attachments, dump, manifest = await read_backup(
                members, finish, put_attachment, restore.write
            )
        for task in list(pending):
            await task
            pending.discard(task)
        files_in_dump = bool(header.get("attachmentsInDatabase"))
        if files_in_dump and not attachments:
            attachments = manifest.get("attachments")  # checked once the dump is restored
        expected = check_manifest(manifest, header, attachments, dump)
        await restore.commit()  # everything read and checked: pg_restore may commit
        committed = True
        counted = await _check_restored(conn, store, attachments, expected,
                                        files_in_dump=files_in_dump)
        return VerifySummary(
            header=header, attachments=len(attachments),
            attachment_bytes=sum(a["bytes"] for a in attachments.values()),
            database_bytes=dump["bytes"], counts=counted,
        )
    except BaseException:
        await asyncio.gather(*pending, return_exceptions=True)  # then `put` is complete
        if restore is not None:
            await restore.kill()
        if committed:
            await backups_db.drop_everything(conn)
        for key in put:
            with contextlib.suppress(OSError):
                await store.delete(key)
        raise
    finally:
        await conn.close()

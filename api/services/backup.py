"""Backups that restore: one file with everything needed to bring the server back.

A backup is one consistent snapshot of the database (PostgreSQL's own `pg_dump`, custom
format, taken with `--snapshot` from a REPEATABLE READ transaction of ours), every stored file
that snapshot refers to (read through the configured AttachmentStore), and a manifest. The
server secrets (Digest nonces, CSRF, case record keys) live in the database, so tokens,
passwords, Digest logins and publications' record keys come back with it.

The file (docs/backups.md says the same for operators):

    FIELDSURVEY-BACKUP/1 age\\n        or  FIELDSURVEY-BACKUP/1 plain\\n (--no-encryption)
    <length>\\n<an age file, passphrase (scrypt) recipient: a fresh X25519 identity>
    <an age file to that identity: the tar below>

and the tar (POSIX pax), in this order: `header.json` (format, fieldsurvey version, migration
level, attachment store kind, snapshot time: read first, so a backup of a newer version or
of another kind of store is refused before anything is touched), `attachments/<key>` (each
with its SHA-256 in a pax header), `database/dump.NNNNNN` (pg_dump's output in parts of
PART_SIZE, so that memory stays flat), `manifest.json` (the header again, counts per table,
every attachment's SHA-256 and size, the dump's SHA-256 and size).

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
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from api.storage import AttachmentStore
from db import backups as backups_db
from db import blobs as blobs_db
from db.migrate import available_migrations
from db.pool import connect

FORMAT = 1
MAGIC = b"FIELDSURVEY-BACKUP/1 "
KIND_AGE = b"age"
KIND_PLAIN = b"plain"
PART_SIZE = 8 * 1024 * 1024  # pg_dump's output is cut into tar members of this size
CHUNK = 1024 * 1024
MAX_JSON_MEMBER = 256 * 1024 * 1024
MAX_WRAPPED_IDENTITY = 4096
BACKUP_SUFFIX = ".fsbackup"
BACKUP_NAME_RE = re.compile(r"^fieldsurvey-\d{8}T\d{6}Z" + re.escape(BACKUP_SUFFIX) + "$")
_ATTACHMENT_RE = re.compile(r"^attachments/([0-9A-Za-z._-]{1,200})$")
_PART_RE = re.compile(r"^database/dump\.(\d{6})$")
SHA256_PAX = "FIELDSURVEY.sha256"


class BackupError(Exception):
    """A backup or restore that cannot go on; `slug` names the problem, the message says it
    to the operator (the CLI prints it)."""

    def __init__(self, slug: str, message: str):
        super().__init__(message)
        self.slug = slug


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


def fieldsurvey_version() -> str:
    from api import __version__

    return __version__


def newest_migration() -> int:
    return max(m.version for m in available_migrations())


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
# pg_dump and pg_restore


def _libpq_dsn(dsn: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (not shown in the process list) and the environment with
    it (PGPASSWORD)."""
    env = dict(os.environ)
    parts = urlsplit(dsn)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        netloc = f"{user}@{host}" if user else host
        dsn = urlunsplit(parts._replace(netloc=netloc))
    return dsn, env


def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match.group(1)) if match else None


def pg_tool_candidates(name: str, bin_dir: Path | str | None = None) -> list[str]:
    """Where `name` (pg_dump, pg_restore) may be: `bin_dir` (FIELDSURVEY_PG_BIN_DIR), the
    system's (PATH: production's PostgreSQL), the embedded pgserver's (development, tests)."""
    found = []
    if bin_dir:
        found.append(str(Path(bin_dir) / name))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    with contextlib.suppress(ImportError):
        import pgserver

        found.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    return found


def find_pg_tool(name: str, server_major: int | None, bin_dir: Path | str | None = None) -> str:
    """The first candidate whose major version is at least the server's (pg_dump refuses an
    older one); with no server (verify), the newest."""
    versions = []
    for candidate in pg_tool_candidates(name, bin_dir):
        major = _tool_major(candidate)
        if major is None:
            continue
        versions.append((candidate, major))
        if server_major is not None and major >= server_major:
            return candidate
    if server_major is None and versions:
        return max(versions, key=lambda v: v[1])[0]
    seen = ", ".join(f"{path} ({major})" for path, major in versions) or "none"
    raise BackupError(
        "pg-tools-missing",
        f"no {name} of PostgreSQL {server_major} or newer (found: {seen}); install the "
        f"PostgreSQL client of the server's version or set FIELDSURVEY_PG_BIN_DIR",
    )


async def _drain(stream: asyncio.StreamReader) -> bytes:
    return await stream.read()


# ---------------------------------------------------------------------------------------------
# writing


class _EncryptingPipe:
    """A file-like sink: what is written goes through a pipe to a thread running age's
    encryption (pyrage.encrypt_io) into `out`. close() waits for it and raises its error."""

    def __init__(self, out, recipient):
        import pyrage

        read_fd, write_fd = os.pipe()
        self._writer = os.fdopen(write_fd, "wb", buffering=CHUNK)
        self._reader = os.fdopen(read_fd, "rb", buffering=CHUNK)
        self.error: BaseException | None = None

        def run() -> None:
            try:
                pyrage.encrypt_io(self._reader, out, [recipient])
            except BaseException as exc:  # handed to the writer's side (close)
                self.error = exc
            finally:
                self._reader.close()

        self._thread = threading.Thread(target=run, name="backup-encrypt", daemon=True)
        self._thread.start()

    def write(self, data) -> int:
        try:
            return self._writer.write(data)
        except BrokenPipeError:
            self._thread.join()
            raise self.error or BrokenPipeError() from None

    def close(self) -> None:
        try:
            self._writer.close()
        except BrokenPipeError:
            pass
        self._thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
        self._thread.join()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes | memoryview, digest: str | None = None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = 0
    if digest is not None:
        info.pax_headers = {SHA256_PAX: digest}
    tar.addfile(info, io.BytesIO(data))


def _json_bytes(value) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, default=str).encode("utf-8")


def default_backup_name(now: datetime) -> str:
    return f"fieldsurvey-{now:%Y%m%dT%H%M%SZ}{BACKUP_SUFFIX}"


def _disk_error(exc: OSError, where: str) -> BackupError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError("disk-full", f"the disk is full ({where}): {exc.strerror}")
    return BackupError("io-error", f"{where}: {exc}")


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
        try:
            fh = open(partial, "xb")  # noqa: SIM115 (closed below, on every path)
            os.chmod(partial, 0o600)
        except OSError as exc:
            raise _disk_error(exc, f"cannot write {partial}") from exc
        encrypted = passphrase is not None
        try:
            if encrypted:
                from pyrage import passphrase as age_passphrase
                from pyrage import x25519

                identity = x25519.Identity.generate()
                wrapped = await asyncio.to_thread(
                    age_passphrase.encrypt, str(identity).encode("ascii"), passphrase
                )
                fh.write(MAGIC + KIND_AGE + b"\n" + b"%d\n" % len(wrapped) + wrapped)
                sink = _EncryptingPipe(fh, identity.to_public())
            else:
                fh.write(MAGIC + KIND_PLAIN + b"\n")
                sink = fh
        except OSError as exc:
            raise _disk_error(exc, f"writing {partial}") from exc
        tar = tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await backups_db.export_snapshot(conn)
            if after_snapshot is not None:
                await after_snapshot()
            in_database = _files_in_database(store)
            header = {
                "format": FORMAT,
                "fieldsurvey": fieldsurvey_version(),
                "migration": await backups_db.migration_level(conn),
                "attachmentStore": store.kind,
                "attachmentsInDatabase": in_database,
                "snapshotAt": snapshot["taken_at"].isoformat(),
                "encrypted": encrypted,
            }
            counts = await backups_db.count_rows_per_table(conn)
            keys = list(dict.fromkeys(
                [key async for batch in blobs_db.referenced_keys(conn) for key in batch]))
            try:
                _add_bytes(tar, "header.json", _json_bytes(header))
                attachments = {}
                attachment_bytes = 0
                for key in keys:
                    try:
                        data = await store.get(key)
                    except FileNotFoundError as exc:
                        raise BackupError(
                            "attachment-missing",
                            f"the attachment store has no file {key}, which the database refers "
                            "to: the store is damaged; no backup was written",
                        ) from exc
                    digest = hashlib.sha256(data).hexdigest()
                    if not in_database:  # else the dump holds it
                        _add_bytes(tar, f"attachments/{key}", data, digest)
                    attachments[key] = {"sha256": digest, "bytes": len(data)}
                    attachment_bytes += len(data)
                    del data
                dump = await _dump_into(tar, pg_dump, dsn, snapshot["snapshot"])
                manifest = {
                    **header,
                    "counts": counts,
                    "secrets": "in the database (table server_secrets)",
                    "attachments": attachments,
                    "database": dump,
                }
                _add_bytes(tar, "manifest.json", _json_bytes(manifest))
                tar.close()
                if encrypted:
                    sink.close()
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _disk_error(exc, f"writing {partial}") from exc
        fh.close()
        os.replace(partial, output)
        _fsync_dir(output.parent)
        finished = True
        size = output.stat().st_size
        snapshot_at = snapshot["taken_at"]
        await backups_db.record_backup(conn, snapshot_at, output.name, size, len(keys), encrypted)
    finally:
        if not finished:
            if isinstance(sink, _EncryptingPipe):
                sink.abort()
            if fh is not None:
                fh.close()
            partial.unlink(missing_ok=True)
        await conn.close()
    return BackupSummary(
        path=output,
        snapshot_at=snapshot_at,
        bytes=size,
        attachments=len(keys),
        attachment_bytes=attachment_bytes,
        database_bytes=dump["bytes"],
        encrypted=encrypted,
        counts=counts,
    )


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
    url, env = _libpq_dsn(dsn)
    proc = await asyncio.create_subprocess_exec(
        pg_dump, "--format=custom", "--compress=1", "--no-owner", "--no-privileges",
        f"--snapshot={snapshot}", f"--dbname={url}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    errors = asyncio.ensure_future(_drain(proc.stderr))
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
                _add_bytes(tar, f"database/dump.{parts:06d}", part, hashlib.sha256(part).hexdigest())
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


# ---------------------------------------------------------------------------------------------
# reading


class _DecryptingPipe:
    """age's decryption (pyrage.decrypt_io) in a thread, from `source` into a pipe whose read
    end is `stream`. finish() waits for it; an authentication failure (a changed byte, a cut-off
    end) is raised there, as `backup-damaged`."""

    def __init__(self, source, identity):
        import pyrage

        read_fd, write_fd = os.pipe()
        self.stream = os.fdopen(read_fd, "rb", buffering=CHUNK)
        writer = os.fdopen(write_fd, "wb", buffering=CHUNK)
        self.error: BaseException | None = None

        def run() -> None:
            try:
                pyrage.decrypt_io(source, writer, [identity])
            except BaseException as exc:
                self.error = exc
            finally:
                with contextlib.suppress(OSError):
                    writer.close()

        self._thread = threading.Thread(target=run, name="backup-decrypt", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self._thread.join()
        if self.error is not None and not isinstance(self.error, BrokenPipeError):
            raise _damaged(f"authentication failed ({self.error})")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        self._thread.join()


def _damaged(why: str) -> BackupError:
    return BackupError(
        "backup-damaged",
        f"the backup file is damaged or incomplete ({why}); the target was not changed",
    )


@contextlib.contextmanager
def open_backup(path: Path | str, passphrase: str | None) -> Iterator[tuple[object, object]]:
    """The backup's tar stream, and a function that raises if what was read did not
    authenticate (call it after the last member)."""
    path = Path(path)
    try:
        source = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise BackupError("backup-unreadable", f"cannot read {path}: {exc.strerror}") from exc
    decrypting = None
    try:
        first = source.readline(64)
        if not first.startswith(MAGIC) or not first.endswith(b"\n"):
            raise BackupError("backup-unreadable", f"{path} is not a fieldsurvey backup")
        kind = first[len(MAGIC):-1]
        if kind == KIND_PLAIN:
            yield source, lambda: None
            return
        if kind != KIND_AGE:
            raise BackupError("backup-unreadable", f"{path}: unknown kind of backup {kind!r}")
        if passphrase is None:
            raise BackupError(
                "passphrase-missing", f"{path} is encrypted: give its passphrase (--passphrase-file)"
            )
        length_line = source.readline(16)
        if not re.fullmatch(rb"\d{1,6}\n", length_line) or int(length_line) > MAX_WRAPPED_IDENTITY:
            raise _damaged("its header is unreadable")
        wrapped = source.read(int(length_line))
        from pyrage import DecryptError, x25519
        from pyrage import passphrase as age_passphrase

        try:
            secret = age_passphrase.decrypt(wrapped, passphrase)
        except DecryptError as exc:
            raise BackupError(
                "passphrase-wrong",
                "the passphrase does not open this backup (a wrong passphrase, or the file's "
                "first bytes are damaged); the target was not changed",
            ) from exc
        identity = x25519.Identity.from_str(secret.decode("ascii"))
        decrypting = _DecryptingPipe(source, identity)
        yield decrypting.stream, decrypting.finish
    finally:
        if decrypting is not None:
            decrypting.close()
        source.close()


class _Members:
    """The backup's tar members in the order written, checked for name and order."""

    def __init__(self, stream):
        try:
            self.tar = tarfile.open(fileobj=stream, mode="r|", format=tarfile.PAX_FORMAT)
        except tarfile.TarError as exc:
            raise _damaged(f"no archive: {exc}") from exc
        self._iter = iter(self.tar)

    def next(self) -> tarfile.TarInfo | None:
        try:
            return next(self._iter)
        except StopIteration:
            return None
        except (tarfile.TarError, EOFError) as exc:
            raise _damaged(str(exc)) from exc

    def read(self, info: tarfile.TarInfo) -> bytes:
        if not info.isfile():
            raise _damaged(f"unexpected member {info.name!r}")
        try:
            data = self.tar.extractfile(info).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _damaged(str(exc)) from exc
        if len(data) != info.size:
            raise _damaged(f"{info.name} is cut short")
        return data

    def read_json(self, info: tarfile.TarInfo) -> dict:
        if info.size > MAX_JSON_MEMBER:
            raise _damaged(f"{info.name} is too large")
        try:
            value = json.loads(self.read(info))
        except ValueError as exc:
            raise _damaged(f"{info.name} is not JSON") from exc
        if not isinstance(value, dict):
            raise _damaged(f"{info.name} is not an object")
        return value


def check_header(header: dict, store_kind: str | None) -> None:
    """Refuse a backup this installation cannot restore, before anything is touched."""
    level, newest = header.get("migration"), newest_migration()
    if not isinstance(header.get("format"), int) or not isinstance(level, int):
        raise _damaged("its header is incomplete")
    if header["format"] > FORMAT or level > newest:
        raise BackupError(
            "backup-newer",
            f"this backup was made by a newer fieldsurvey ({header.get('fieldsurvey')}, "
            f"backup format {header['format']}, migration {level}) than this one "
            f"({fieldsurvey_version()}, format {FORMAT}, migrations up to {newest}): install "
            "that version or newer, then restore; the target was not changed",
        )
    if store_kind is not None and header.get("attachmentStore") != store_kind:
        raise BackupError(
            "store-different",
            f"this backup was made with the {header.get('attachmentStore')!r} attachment store "
            f"and this server is configured with the {store_kind!r} one: configure the same kind "
            "of store (FIELDSURVEY_ATTACHMENTS) and restore again; the target was not changed",
        )


def _check_member_digest(info: tarfile.TarInfo, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if info.pax_headers.get(SHA256_PAX) != digest:
        raise _damaged(f"{info.name} does not match its SHA-256")
    return digest


def _check_manifest(manifest: dict, header: dict, attachments: dict, dump: dict) -> dict[str, int]:
    for name, value in header.items():
        if manifest.get(name) != value:
            raise _damaged(f"manifest and header disagree on {name}")
    if manifest.get("attachments") != attachments:
        raise _damaged("the attachments are not those the manifest lists")
    if manifest.get("database") != dump:
        raise _damaged("the database dump is not the one the manifest describes")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise _damaged("the manifest has no counts")
    return counts


class _DumpDigest:
    def __init__(self):
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.parts = 0

    def add(self, info: tarfile.TarInfo, data: bytes) -> None:
        match = _PART_RE.match(info.name)
        if match is None or int(match.group(1)) != self.parts:
            raise _damaged(f"unexpected member {info.name!r}")
        _check_member_digest(info, data)
        self.sha.update(data)
        self.bytes += len(data)
        self.parts += 1

    def summary(self) -> dict:
        return {"sha256": self.sha.hexdigest(), "bytes": self.bytes, "parts": self.parts}


async def _read_backup(members: _Members, finish, on_attachment, on_dump_part):
    """Read the members after the header: each attachment (checked against its SHA-256) to
    `on_attachment(key, data)`, each part of the dump to `on_dump_part(data)`, then the
    manifest; the stream must end there and authenticate. (attachments, dump, manifest)"""
    attachments: dict[str, dict] = {}
    dump = _DumpDigest()
    manifest = None
    try:
        while (info := members.next()) is not None:
            if info.name == "manifest.json":
                manifest = members.read_json(info)
                break
            match = _ATTACHMENT_RE.match(info.name)
            if match is not None and dump.parts == 0:
                data = members.read(info)
                digest = _check_member_digest(info, data)
                await on_attachment(match.group(1), data)
                attachments[match.group(1)] = {"sha256": digest, "bytes": len(data)}
                continue
            data = members.read(info)
            dump.add(info, data)
            await on_dump_part(data)
        if manifest is None:
            raise _damaged("it ends before its manifest")
        if members.next() is not None:
            raise _damaged("there is more after the manifest")
        await asyncio.to_thread(finish)
    except BackupError as exc:
        if exc.slug == "backup-damaged":
            # a cut-off or changed age stream shows first as a short or broken tar: the
            # authentication error says better what happened
            await asyncio.to_thread(finish)
        raise
    return attachments, dump.summary(), manifest


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
            counter = asyncio.ensure_future(_count_copy_rows(restore.stdout))
            # a counter that failed reads no more: pg_restore is stopped, not left blocked
            counter.add_done_callback(lambda task: task.exception() and restore.kill())
            errors = asyncio.ensure_future(_drain(restore.stderr))
        restore.stdin.write(data)
        await restore.stdin.drain()

    async def skip(key: str, data: bytes) -> None:
        return None

    try:
        with open_backup(path, passphrase) as (stream, finish):
            members = _Members(stream)
            header = await _read_header(members)
            check_header(header, None)
            attachments, dump, manifest = await _read_backup(members, finish, skip, count_rows)
        if header.get("attachmentsInDatabase") and not attachments:
            # the files are rows of the dump: their count is checked, their hashes on restore
            attachments = manifest.get("attachments")
        expected = _check_manifest(manifest, header, attachments, dump)
        if restore is None:
            raise _damaged("it holds no database")
        restore.stdin.close()
        counted = await counter
        if await restore.wait() != 0:
            raise _damaged(f"pg_restore cannot read the dump: {(await errors).decode(errors='replace')}")
    finally:
        if restore is not None and restore.returncode is None:
            restore.kill()
            await restore.wait()
    counted = {name: counted.get(name, 0) for name in expected}
    if counted != expected:
        wrong = sorted(n for n in expected if counted[n] != expected[n])
        raise _damaged(f"row counts differ from the manifest's for {', '.join(wrong)}")
    return VerifySummary(
        header=header,
        attachments=len(attachments),
        attachment_bytes=sum(a["bytes"] for a in attachments.values()),
        database_bytes=dump["bytes"],
        counts=counted,
    )


async def _read_header(members: _Members) -> dict:
    info = members.next()
    if info is None or info.name != "header.json":
        raise _damaged("it does not begin with its header")
    return members.read_json(info)


_COPY_RE = re.compile(rb"^COPY (?:[\w\"]+\.)?\"?(\w+)\"? \(.*\) FROM stdin;$")


async def _count_copy_rows(stdout: asyncio.StreamReader) -> dict[str, int]:
    """Rows per table in pg_restore's plain output: the lines of each COPY block (text COPY
    escapes newlines, so one line is one row). Read in chunks: a row may be megabytes long,
    and only the first bytes of a line are kept."""
    counts: dict[str, int] = {}
    table = None
    head = b""
    while chunk := await stdout.read(CHUNK):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if len(head) < 4096:
                head += chunk[start: (end if end >= 0 else len(chunk))][: 4096 - len(head)]
            if end < 0:
                break
            if table is None:
                match = _COPY_RE.match(head)
                if match:
                    table = match.group(1).decode()
                    counts[table] = 0
            elif head == b"\\.":
                table = None
            else:
                counts[table] += 1
            head = b""
            start = end + 1
    return counts


async def _store_is_empty(store: AttachmentStore) -> bool:
    async for _ in store.keys():
        return False
    return True


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
    restore = None
    committed = False
    try:
        if not await backups_db.database_is_empty(conn):
            raise BackupError(
                "target-not-empty",
                "the database is not empty: restore only into a new, empty database (createdb); "
                "nothing was changed",
            )
        if not _files_in_database(store) and not await _store_is_empty(store):
            raise BackupError(
                "target-not-empty",
                f"the {store.kind!r} attachment store is not empty: restore only into an empty "
                "one; nothing was changed",
            )
        pg_restore = find_pg_tool("pg_restore", await backups_db.server_version(conn) // 10000, pg_bin_dir)
        errors = None

        async def put_attachment(key: str, data: bytes) -> None:
            try:
                stored = await store.put(data)
            except OSError as exc:
                raise _disk_error(exc, f"putting attachment {key} into the store") from exc
            put.append(stored)
            if stored != key:
                raise _damaged(f"attachment {key} is stored under another key")

        async def restore_part(data: bytes) -> None:
            nonlocal restore, errors
            if restore is None:
                url, env = _libpq_dsn(dsn)
                restore = await asyncio.create_subprocess_exec(
                    pg_restore, "--single-transaction", "--exit-on-error", "--no-owner",
                    "--no-privileges", f"--dbname={url}",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE, env=env,
                )
                errors = asyncio.ensure_future(_drain(restore.stderr))
            try:
                restore.stdin.write(data)
                await restore.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                await restore.wait()
                raise _restore_failed(await errors) from exc

        with open_backup(path, passphrase) as (stream, finish):
            members = _Members(stream)
            header = await _read_header(members)
            check_header(header, store.kind)
            attachments, dump, manifest = await _read_backup(
                members, finish, put_attachment, restore_part
            )
        in_database = bool(header.get("attachmentsInDatabase"))
        if in_database and not attachments:
            attachments = manifest.get("attachments")  # checked once the dump is restored
        expected = _check_manifest(manifest, header, attachments, dump)
        if restore is None:
            raise _damaged("it holds no database")
        # everything read and checked: let pg_restore commit
        restore.stdin.close()
        if await restore.wait() != 0:
            raise _restore_failed(await errors)
        committed = True
        if in_database:
            for key, described in attachments.items():
                try:
                    data = await store.get(key)
                except FileNotFoundError:
                    data = b""
                if {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} != described:
                    raise _damaged(f"attachment {key} restored from the dump does not match its SHA-256")
        counted = await backups_db.count_rows_per_table(conn)
        counted = {name: counted.get(name, 0) for name in expected}
        if counted != expected:
            wrong = sorted(n for n in expected if counted[n] != expected[n])
            raise BackupError(
                "restore-failed",
                f"the restored row counts differ from the manifest's ({', '.join(wrong)}); the "
                "target was emptied again",
            )
        return VerifySummary(
            header=header,
            attachments=len(attachments),
            attachment_bytes=sum(a["bytes"] for a in attachments.values()),
            database_bytes=dump["bytes"],
            counts=counted,
        )
    except BaseException:
        if restore is not None and restore.returncode is None:
            restore.kill()  # its connection goes, and with it the uncommitted transaction
            await restore.wait()
        if committed:
            await backups_db.drop_everything(conn)
        for key in put:
            with contextlib.suppress(OSError):
                await store.delete(key)
        raise
    finally:
        await conn.close()


def _restore_failed(stderr: bytes) -> BackupError:
    text = stderr.decode("utf-8", "replace").strip()
    if "No space left on device" in text or "could not extend file" in text:
        return BackupError(
            "disk-full",
            f"the database's disk is full: nothing was restored (pg_restore: {text})",
        )
    return BackupError("restore-failed", f"pg_restore failed; nothing was restored: {text}")


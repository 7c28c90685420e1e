"""The backup file (api/services/backup.py makes and reads it; docs/backups.md tells
operators): its layout, age encryption and decryption in threads (pyrage), its tar members and
their checks, and the PostgreSQL client tools (pg_dump, pg_restore) of the right version.

    FIELDSURVEY-BACKUP/1 age\\n        or  FIELDSURVEY-BACKUP/1 plain\\n (--no-encryption)
    <length>\\n<an age file, passphrase (scrypt) recipient: a fresh X25519 identity>
    <an age file to that identity: the tar>

The tar (POSIX pax), in this order: `header.json`, `attachments/<key>` (each with its SHA-256
in a pax header), `database/dump.NNNNNN` (pg_dump's output in parts of PART_SIZE),
`manifest.json`.
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
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from db.migrate import available_migrations

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


def fieldsurvey_version() -> str:
    from api import __version__

    return __version__


def newest_migration() -> int:
    return max(m.version for m in available_migrations())


# ---------------------------------------------------------------------------------------------
# pg_dump and pg_restore


def libpq_dsn(dsn: str) -> tuple[str, dict[str, str]]:
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


def tool_major(path: str) -> int | None:
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
        major = tool_major(candidate)
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


async def drain(stream: asyncio.StreamReader) -> bytes:
    return await stream.read()


class EncryptingPipe:
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


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes | memoryview, digest: str | None = None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = 0
    if digest is not None:
        info.pax_headers = {SHA256_PAX: digest}
    tar.addfile(info, io.BytesIO(data))


def json_bytes(value) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, default=str).encode("utf-8")


def disk_error(exc: OSError, where: str) -> BackupError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError("disk-full", f"the disk is full ({where}): {exc.strerror}")
    return BackupError("io-error", f"{where}: {exc}")


# ---------------------------------------------------------------------------------------------
# reading


class DecryptingPipe:
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
            raise damaged(f"authentication failed ({self.error})")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        self._thread.join()


def damaged(why: str) -> BackupError:
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
            raise damaged("its header is unreadable")
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
        decrypting = DecryptingPipe(source, identity)
        yield decrypting.stream, decrypting.finish
    finally:
        if decrypting is not None:
            decrypting.close()
        source.close()


class Members:
    """The backup's tar members in the order written, checked for name and order."""

    def __init__(self, stream):
        try:
            self.tar = tarfile.open(fileobj=stream, mode="r|", format=tarfile.PAX_FORMAT)
        except tarfile.TarError as exc:
            raise damaged(f"no archive: {exc}") from exc
        self._iter = iter(self.tar)

    def next(self) -> tarfile.TarInfo | None:
        try:
            return next(self._iter)
        except StopIteration:
            return None
        except (tarfile.TarError, EOFError) as exc:
            raise damaged(str(exc)) from exc

    def read(self, info: tarfile.TarInfo) -> bytes:
        if not info.isfile():
            raise damaged(f"unexpected member {info.name!r}")
        try:
            data = self.tar.extractfile(info).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise damaged(str(exc)) from exc
        if len(data) != info.size:
            raise damaged(f"{info.name} is cut short")
        return data

    def read_json(self, info: tarfile.TarInfo) -> dict:
        if info.size > MAX_JSON_MEMBER:
            raise damaged(f"{info.name} is too large")
        try:
            value = json.loads(self.read(info))
        except ValueError as exc:
            raise damaged(f"{info.name} is not JSON") from exc
        if not isinstance(value, dict):
            raise damaged(f"{info.name} is not an object")
        return value


def check_header(header: dict, store_kind: str | None) -> None:
    """Refuse a backup this installation cannot restore, before anything is touched."""
    level, newest = header.get("migration"), newest_migration()
    if not isinstance(header.get("format"), int) or not isinstance(level, int):
        raise damaged("its header is incomplete")
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


def check_member_digest(info: tarfile.TarInfo, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if info.pax_headers.get(SHA256_PAX) != digest:
        raise damaged(f"{info.name} does not match its SHA-256")
    return digest


def check_manifest(manifest: dict, header: dict, attachments: dict, dump: dict) -> dict[str, int]:
    for name, value in header.items():
        if manifest.get(name) != value:
            raise damaged(f"manifest and header disagree on {name}")
    if manifest.get("attachments") != attachments:
        raise damaged("the attachments are not those the manifest lists")
    if manifest.get("database") != dump:
        raise damaged("the database dump is not the one the manifest describes")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise damaged("the manifest has no counts")
    return counts


class DumpDigest:
    def __init__(self):
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.parts = 0

    def add(self, info: tarfile.TarInfo, data: bytes) -> None:
        match = _PART_RE.match(info.name)
        if match is None or int(match.group(1)) != self.parts:
            raise damaged(f"unexpected member {info.name!r}")
        check_member_digest(info, data)
        self.sha.update(data)
        self.bytes += len(data)
        self.parts += 1

    def summary(self) -> dict:
        return {"sha256": self.sha.hexdigest(), "bytes": self.bytes, "parts": self.parts}


async def read_backup(members: Members, finish, on_attachment, on_dump_part):
    """Read the members after the header: each attachment (checked against its SHA-256) to
    `on_attachment(key, data)`, each part of the dump to `on_dump_part(data)`, then the
    manifest; the stream must end there and authenticate. (attachments, dump, manifest)"""
    attachments: dict[str, dict] = {}
    dump = DumpDigest()
    manifest = None
    try:
        while (info := members.next()) is not None:
            if info.name == "manifest.json":
                manifest = members.read_json(info)
                break
            match = _ATTACHMENT_RE.match(info.name)
            if match is not None and dump.parts == 0:
                data = members.read(info)
                digest = check_member_digest(info, data)
                await on_attachment(match.group(1), data)
                attachments[match.group(1)] = {"sha256": digest, "bytes": len(data)}
                continue
            data = members.read(info)
            dump.add(info, data)
            await on_dump_part(data)
        if manifest is None:
            raise damaged("it ends before its manifest")
        if members.next() is not None:
            raise damaged("there is more after the manifest")
        await asyncio.to_thread(finish)
    except BackupError as exc:
        if exc.slug == "backup-damaged":
            # a cut-off or changed age stream shows first as a short or broken tar: the
            # authentication error says better what happened
            await asyncio.to_thread(finish)
        raise
    return attachments, dump.summary(), manifest


async def read_header(members: Members) -> dict:
    info = members.next()
    if info is None or info.name != "header.json":
        raise damaged("it does not begin with its header")
    return members.read_json(info)


_COPY_RE = re.compile(rb"^COPY (?:[\w\"]+\.)?\"?(\w+)\"? \(.*\) FROM stdin;$")


async def count_copy_rows(stdout: asyncio.StreamReader) -> dict[str, int]:
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


def restore_failed(stderr: bytes) -> BackupError:
    text = stderr.decode("utf-8", "replace").strip()
    if "No space left on device" in text or "could not extend file" in text:
        return BackupError(
            "disk-full",
            f"the database's disk is full: nothing was restored (pg_restore: {text})",
        )
    return BackupError("restore-failed", f"pg_restore failed; nothing was restored: {text}")

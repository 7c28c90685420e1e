"""ODK Validate in one long-lived process, so that an upload does not start Java.

pyxform runs ODK Validate as `java -jar ODK_Validate.jar FILE`: one JVM per form, 1.2-2.2 s of
start-up for 10-50 ms of validation. The jar's own `FormValidator` validates one form per
call (`validate(byte[])`) and keeps its verdict in a field, so one JVM can judge any number of
forms. `SharedValidator` keeps one worker process (this file run as a script: Python with the
JVM embedded by JPype, the jar on its class path) and sends it one XForm at a time; the
worker answers with the verdict and what the validator printed on stderr, which the caller
reads exactly as pyxform reads the command's stderr (`ErrorCleaner.odk_validate`), so the
messages are the command's messages.

The worker warms up (WARM_UP_RUNS) before its first form, and is restarted after MAX_FORMS forms (the jar registers a few objects per call), when
it dies, and when a form takes longer than TIMEOUT_SECONDS (it is killed, and the form is
accepted with a warning, as pyxform accepts a form whose validation times out). One worker per
server process, started on first use or by `SharedValidator.start_in_background`; it exits
when its parent does (its stdin closes).

Protocol on the worker's stdin/stdout: a 4-byte big-endian length, then that many bytes: the
XForm one way, a JSON object `{"valid": bool, "stderr": str}` the other.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from pyxform.validators.odk_validate import ODK_VALIDATE_PATH
from pyxform.validators.util import XFORM_SPEC_PATH

TIMEOUT_SECONDS = 100  # pyxform's timeout for one run of the jar
MAX_FORMS = 1000
# Before it says it is ready, the worker validates pyxform's own XForm of the XLSForm spec
# (every question type) this many times: the JVM's first runs load and compile JavaRosa's
# classes (under load, a first form took 2.0 s without, 0.7-1.0 s after 4-10 runs), so the
# first upload does not pay for that.
WARM_UP_RUNS = 6
JVM_OPTIONS = ("-Djava.awt.headless=true", "-Xrs", "-Xms16m", "-Xmx256m", "-XX:+UseSerialGC")
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Verdict:
    valid: bool
    stderr: str  # what ODK Validate printed on stderr (errors, with Java stack traces)
    timed_out: bool = False


class ValidatorGone(Exception):
    """The worker died (twice on the same form) or could not be started."""


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, missing = [], size
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, missing)
        if not chunk:
            raise ValidatorGone("the ODK Validate worker closed its output")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class SharedValidator:
    """One ODK Validate worker for this process; `check` is safe to call from threads (the
    forms are validated one at a time: each takes milliseconds)."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS, max_forms: int = MAX_FORMS,
                 jvm_options: tuple[str, ...] = JVM_OPTIONS):
        self.timeout, self.max_forms, self.jvm_options = timeout, max_forms, jvm_options
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._forms = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), *self.jvm_options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            ready = _read_exactly(process.stdout.fileno(), 1, time.monotonic() + 120)
        except (TimeoutError, ValidatorGone):
            ready = b""
        if ready != b"R":
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()
            raise ValidatorGone("the ODK Validate worker did not start")
        return process

    def _stop(self) -> None:
        process, self._process, self._forms = self._process, None, 0
        if process is not None:
            process.kill()
            process.wait()
            process.stdin.close()
            process.stdout.close()

    def start_in_background(self) -> threading.Thread:
        """Start the worker now, in a thread, so that the first upload does not wait for it."""
        def start() -> None:
            with self._lock:
                if self._process is None:
                    try:
                        self._process = self._start()
                    except (OSError, ValidatorGone):
                        pass  # the first check tries again and reports it
        thread = threading.Thread(target=start, name="odk-validate-start", daemon=True)
        thread.start()
        return thread

    def check(self, xform: bytes) -> Verdict:
        with self._lock:
            for attempt in (1, 2):  # a worker that died between forms is started again once
                if self._process is None or self._process.poll() is not None:
                    self._stop()
                    self._process = self._start()
                try:
                    return self._ask(xform)
                except TimeoutError:
                    self._stop()
                    return Verdict(True, "", timed_out=True)
                except (ValidatorGone, BrokenPipeError):
                    self._stop()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def _ask(self, xform: bytes) -> Verdict:
        process = self._process
        process.stdin.write(_LENGTH.pack(len(xform)) + xform)
        process.stdin.flush()
        deadline = time.monotonic() + self.timeout
        fd = process.stdout.fileno()
        (size,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, deadline))
        answer = json.loads(_read_exactly(fd, size, deadline))
        self._forms += 1
        if self._forms >= self.max_forms:
            self._stop()
        return Verdict(bool(answer["valid"]), str(answer["stderr"]))

    def close(self) -> None:
        with self._lock:
            self._stop()


_shared: SharedValidator | None = None
_shared_lock = threading.Lock()


def shared_validator() -> SharedValidator:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SharedValidator()
        return _shared


def _serve(jvm_options: list[str]) -> None:  # pragma: no cover - runs in the worker process
    """The worker: the JVM with the jar, one form per request, until stdin closes."""
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what Java prints on stdout must not reach the protocol
    os.dup2(devnull, 2)
    import jpype

    jpype.startJVM(*jvm_options, classpath=[ODK_VALIDATE_PATH], convertStrings=True)
    byte_array_out = jpype.JClass("java.io.ByteArrayOutputStream")
    print_stream = jpype.JClass("java.io.PrintStream")
    output_stream = jpype.JClass("java.io.OutputStream")
    system = jpype.JClass("java.lang.System")
    validator_class = jpype.JClass("org.opendatakit.validate.FormValidator")
    in_error = validator_class.class_.getDeclaredField("inError")
    in_error.setAccessible(True)
    system.setOut(print_stream(output_stream.nullOutputStream()))
    system.setErr(print_stream(output_stream.nullOutputStream()))
    with open(XFORM_SPEC_PATH, "rb") as spec:
        warm_up = jpype.JArray(jpype.JByte)(spec.read())
    for _ in range(WARM_UP_RUNS):
        validator_class().validate(warm_up)
    answers.write(b"R")
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    while True:
        head = requests.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return
        (size,) = _LENGTH.unpack(head)
        xform = b""
        while len(xform) < size:
            chunk = requests.read(size - len(xform))
            if not chunk:
                return
            xform += chunk
        captured = byte_array_out()
        system.setErr(print_stream(captured, True, "UTF-8"))
        validator = validator_class()  # the default listener prints to System.err, as the CLI
        validator.validate(jpype.JArray(jpype.JByte)(xform))
        answer = json.dumps({"valid": not in_error.getBoolean(validator),
                             "stderr": str(captured.toString("UTF-8"))}).encode()
        answers.write(_LENGTH.pack(len(answer)) + answer)


if __name__ == "__main__":
    _serve(sys.argv[1:])

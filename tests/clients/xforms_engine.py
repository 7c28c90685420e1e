"""Drive ODK Web Forms' XForms engine (@getodk/xforms-engine, the engine behind Web Forms,
with Collect's semantics) from Python tests.

One `node engine/fill.mjs` process serves many requests over a line protocol (one JSON
request per line on its stdin, one JSON response per line on its stdout); see the header
of engine/fill.mjs for the requests and responses.

    with XFormsEngine() as engine:
        result = engine.fill(xform, {"consent": "yes", "age": "17"}, read=["preview_risk_level"])
        result["values"]["preview_risk_level"], result["instanceXML"]
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ENGINE_DIR = Path(__file__).resolve().parent / "engine"
ENGINE_PACKAGE = ENGINE_DIR / "node_modules" / "@getodk" / "xforms-engine" / "package.json"

AnswerValue = str | int | float | list[str] | tuple[str, ...] | None


class EngineError(RuntimeError):
    """The engine process refused a request, failed, or stopped."""


def node_available() -> bool:
    return shutil.which("node") is not None


def engine_installed(engine_dir: Path = ENGINE_DIR) -> bool:
    return (engine_dir / "node_modules" / "@getodk" / "xforms-engine" / "package.json").is_file()


def engine_available(engine_dir: Path = ENGINE_DIR) -> bool:
    """`node` is on PATH and the engine's node_modules are installed."""
    return node_available() and engine_installed(engine_dir)


def install_engine(engine_dir: Path = ENGINE_DIR, *, timeout: float = 600) -> None:
    """`npm ci` from the committed package-lock.json (needs the npm registry)."""
    npm = shutil.which("npm")
    if npm is None:
        raise EngineError("npm is not on PATH; cannot install the XForms engine")
    completed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=engine_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise EngineError(f"npm ci failed in {engine_dir}:\n{completed.stdout}\n{completed.stderr}")


class XFormsEngine:
    """A long-lived engine process; use as a context manager."""

    def __init__(self, engine_dir: Path = ENGINE_DIR, *, timeout: float = 60.0) -> None:
        self.engine_dir = engine_dir
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=50)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- process -------------------------------------------------------------------------

    def start(self) -> XFormsEngine:
        if self._process is not None:
            return self
        node = shutil.which("node")
        if node is None:
            raise EngineError("node is not on PATH")
        if not engine_installed(self.engine_dir):
            raise EngineError(f"the engine is not installed: run `npm ci` in {self.engine_dir}")
        self._process = subprocess.Popen(
            [node, str(self.engine_dir / "fill.mjs")],
            cwd=self.engine_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.ping()
        return self

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr_tail.append(line.rstrip("\n"))

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> XFormsEngine:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    # -- protocol ------------------------------------------------------------------------

    def request(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Send one request, return its response; raise EngineError unless it is ok."""
        with self._lock:
            process = self._process
            if process is None or process.stdin is None:
                raise EngineError("the engine is not running (use `with XFormsEngine() as e:`)")
            request_id = next(self._ids)
            try:
                process.stdin.write(json.dumps({**payload, "id": request_id}) + "\n")
                process.stdin.flush()
            except BrokenPipeError as exc:
                raise EngineError(f"the engine stopped:\n{self.stderr_tail}") from exc
            try:
                line = self._lines.get(timeout=self.timeout)
            except queue.Empty as exc:
                self.close()
                raise EngineError(
                    f"no answer from the engine within {self.timeout}s:\n{self.stderr_tail}"
                ) from exc
            if line is None:
                raise EngineError(f"the engine stopped:\n{self.stderr_tail}")
        response = json.loads(line)
        if response.get("id") != request_id:
            raise EngineError(f"answer to request {response.get('id')}, expected {request_id}")
        if not response.get("ok"):
            raise EngineError(f"{response.get('kind')}: {response.get('error')}")
        return response

    def ping(self) -> str:
        """Return the engine's version."""
        return self.request({"op": "ping"})["engine"]

    def load(
        self, xform: str, lang: str | None = None, *, labels: int = 5,
        attachments: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Load the form; return its languages and the first `labels` questions' labels
        (with choice labels for selects) in `lang` (the form's default when None).
        `attachments`: file name -> text of the files the form reads (e.g. "cases.csv")."""
        payload = {"op": "load", "xform": xform, "lang": lang, "labels": labels}
        if attachments is not None:
            payload["attachments"] = dict(attachments)
        return self.request(payload)

    def fill(
        self,
        xform: str,
        answers: Mapping[str, AnswerValue],
        lang: str | None = None,
        read: Iterable[str] = (),
        *,
        repeats: Mapping[str, int] | None = None,
        attachments: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Fill a fresh instance in document order; keys are references ("/data/age") or
        unique names ("age"). Returns instanceXML, values (of `read`, None when not
        relevant), applied, skipped (not relevant when reached), errors, violations."""
        payload = {
            "op": "fill",
            "xform": xform,
            "answers": dict(answers),
            "repeats": dict(repeats or {}),
            "lang": lang,
            "read": list(read),
        }
        if attachments is not None:
            payload["attachments"] = dict(attachments)
        return self.request(payload)

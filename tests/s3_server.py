"""An S3-protocol server for tests: moto's standalone server (`moto_server`, PyPI moto[server],
in the test extra), started as a process, since no MinIO installs from the package registries
here. Its buckets live in memory and go with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# moto accepts any credentials; boto3 needs some (the app reads them from the environment)
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "fieldsurvey-test", "AWS_SECRET_ACCESS_KEY": "fieldsurvey-test",
               "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """A running moto_server; yields its endpoint URL. Sets the credentials in os.environ."""
    from tests.conftest import _free_port, require

    executable = Path(sys.executable).parent / "moto_server"
    require(executable.exists(), "moto_server (pip install 'moto[server]')")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    with (log_dir / f"moto-{port}.log").open("ab") as log:
        process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    """A new, empty bucket; its name."""
    import boto3

    name = f"fieldsurvey-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    client.close()
    return name

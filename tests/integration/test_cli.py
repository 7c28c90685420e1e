"""The fieldsurvey CLI against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import ROOT, login
from tests.xlsforms import simple_form, xlsx_bytes


def run_cli(args: list[str], database_url: str, data_dir: Path, stdin: str | None = None):
    env = {**os.environ, "DATABASE_URL": database_url, "FIELDSURVEY_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=120,
    )


def test_forms_compile_prints_xform_or_errors(tmp_path, database_url, data_dir) -> None:
    good = tmp_path / "good.xlsx"
    good.write_bytes(simple_form("clitest", "3"))
    result = run_cli(["forms", "compile", str(good)], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    assert 'id="clitest"' in result.stdout and 'version="3"' in result.stdout

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx_bytes({"survey": [["type", "name", "label"], ["select_one nope", "a", "A"]],
                                "choices": [["list_name", "name", "label"], ["yn", "yes", "Yes"]],
                                "settings": [["form_id"], ["bad"]]}))
    result = run_cli(["forms", "compile", str(bad)], database_url, data_dir)
    assert result.returncode == 1
    assert "nope" in result.stderr and "xlsform-invalid" in result.stderr


async def test_user_create_with_password_stdin_then_login(client, database_url, data_dir) -> None:
    email = f"cli-{uuid.uuid4().hex[:6]}@test.example"
    password = "a-long-cli-password"
    result = run_cli(
        ["user", "create", "--email", email, "--role", "researcher", "--project", "Default",
         "--password-stdin"],
        database_url, data_dir, stdin=password + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    headers = await login(client, email, password)
    forms = await client.get("/v1/projects/1/forms", headers=headers)
    assert forms.status_code == 200


async def test_project_create_and_forms_publish(client, admin_headers, tmp_path, database_url, data_dir) -> None:
    name = f"cli-project-{uuid.uuid4().hex[:6]}"
    result = run_cli(["project", "create", name], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "pub.xlsx"
    path.write_bytes(simple_form("clipub", "1"))
    result = run_cli(["forms", "publish", str(path), "--project", name], database_url, data_dir)
    assert result.returncode == 0, result.stderr
    # the next version of the same file publishes as a new version; the same again is refused
    path.write_bytes(simple_form("clipub", "2"))
    assert run_cli(["forms", "publish", str(path), "--project", name], database_url, data_dir).returncode == 0
    again = run_cli(["forms", "publish", str(path), "--project", name], database_url, data_dir)
    assert again.returncode == 1 and "form-version-exists" in again.stderr
    projects = (await client.get("/v1/projects", headers=admin_headers)).json()
    pid = next(p["id"] for p in projects if p["name"] == name)
    form = (await client.get(f"/v1/projects/{pid}/forms/clipub", headers=admin_headers)).json()
    assert form["version"] == "2"

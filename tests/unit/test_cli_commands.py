"""The click CLI's shape: every module of api/cli/ is registered, --version answers."""

from __future__ import annotations

import importlib
import pkgutil

from click.testing import CliRunner

import api
import api.cli
from api.cli import main


def test_version_prints_the_package_version() -> None:
    # the release is api.__version__, which pyproject.toml reads (so an installed wheel's
    # metadata says the same; a shared editable venv may still hold an older metadata)
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"fieldsurvey {api.__version__}\n"


def test_every_command_module_is_registered() -> None:
    modules = [m.name for m in pkgutil.iter_modules(api.cli.__path__) if not m.name.startswith("_")]
    registered = set(main.commands.values())
    for name in modules:
        module = importlib.import_module(f"api.cli.{name}")
        assert module.COMMANDS and set(module.COMMANDS) <= registered, name
    assert {"serve", "db", "user", "project", "forms", "app-user", "reclassify", "publish",
            "export"} <= set(main.commands)


def test_wrong_usage_exits_2() -> None:
    assert CliRunner().invoke(main, ["no-such-command"]).exit_code == 2
    assert CliRunner().invoke(main, ["export", "--format", "pdf"]).exit_code == 2

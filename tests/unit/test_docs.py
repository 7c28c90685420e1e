"""The docs that come from the code are complete and fresh (as datasette's tests/test_docs.py):
every setting in docs/configuration.md, every command in docs/cli.md, the generated blocks as
`make docs` would write them now."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from cogapp import Cog

from api.cli import main
from api.settings import DOCUMENTED_SETTINGS, Settings

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("docs/cli.md", "docs/configuration.md")
NOT_FROM_THE_ENVIRONMENT = {"bundled_forms_dir"}
READ_FROM_ENV = re.compile(r"""(?:environ(?:\.get)?|getenv)\(?\[?\s*["']([A-Z][A-Z0-9_]+)["']""")


def _commands(command, path):
    yield " ".join(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_generated_blocks_are_fresh() -> None:
    status = Cog().main(["cog", "--check", "-I", str(ROOT), *(str(ROOT / p) for p in GENERATED)])
    assert status == 0, "docs are stale: run `make docs`"


def test_every_settings_field_is_a_documented_setting() -> None:
    documented = {s.name for s in DOCUMENTED_SETTINGS}
    for f in dataclasses.fields(Settings):
        assert f.name in documented | NOT_FROM_THE_ENVIRONMENT, (
            f"Settings.{f.name} is not a setting(...) entry with its variable and meaning")


@pytest.mark.parametrize("entry", DOCUMENTED_SETTINGS, ids=lambda s: s.env)
def test_setting_is_documented(entry) -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    assert f"| `{entry.env}` |" in text, f"{entry.env} is missing from docs/configuration.md"


def test_every_variable_read_anywhere_is_documented() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    read = set()
    for folder in ("api", "db", "forms", "exports", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= {name for name in READ_FROM_ENV.findall(path.read_text())
                     if name.startswith("FIELDSURVEY_")}
    assert read, "the pattern finds nothing: it is broken"
    missing = sorted(name for name in read if f"| `{name}` |" not in text)
    assert not missing, f"read but not in docs/configuration.md: {missing}"


@pytest.mark.parametrize("command", sorted(_commands(main, ["fieldsurvey"])))
def test_command_is_documented(command) -> None:
    text = (ROOT / "docs/cli.md").read_text()
    assert f"\n## {command}\n" in text, f"`{command}` is missing from docs/cli.md: run `make docs`"


def test_links_between_the_docs_resolve() -> None:
    """The README and docs/ point at each other since the split: every relative link names a
    file that exists."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if path and "://" not in path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []

"""The import direction of the house style: `api` may import everything; `db` and `exports`
import `forms`; `forms` imports nothing of ours."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "db", "exports", "forms")
ALLOWED = {
    "forms": {"forms"},
    "db": {"db", "forms"},
    "exports": {"exports", "forms"},
    "api": set(PACKAGES),
}


def our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES}
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_import_direction(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(our_imports(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
        if our_imports(path) - ALLOWED[package]
    }
    assert offenders == {}


# --- one home for each rule (issue 21): literals that must not come back -----------------

ONE_HOME = {
    # the "last month" of an open range of month keys: forms.vocabulary.LAST_MONTH / ALL_TIME
    "999_912": "forms/vocabulary.py",
    "999912": "forms/vocabulary.py",
    # the review states, risk levels, regions and periods: forms.vocabulary
    '"received", "hasIssues"': "forms/vocabulary.py",
    '("low", "medium", "high")': "forms/vocabulary.py",
    '"TJ-DU", "TJ-SU"': "forms/vocabulary.py",
    '("month", "quarter", "year")': "forms/vocabulary.py",
}


@pytest.mark.parametrize("literal", ONE_HOME)
def test_one_home_for_each_word(literal: str) -> None:
    found = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if literal in path.read_text(encoding="utf-8")
        and "library/edits" not in path.as_posix()  # the questionnaires' own edit scripts
    )
    assert set(found) <= {ONE_HOME[literal]}, f"{literal} belongs in {ONE_HOME[literal]} only"


HAND_MADE_CACHE = re.compile(
    r"if len\(\s*([\w.]+)\s*\)\s*>=?\s*[\w.]+\s*:\s*(?:#[^\n]*)?\n\s*\1\.clear\(\)"
    r"|popitem\(last=False\)"
)


def test_bounded_caches_are_cachetools() -> None:
    """A bounded cache is a cachetools LRUCache or TTLCache, not a dict emptied when full."""
    offenders = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if HAND_MADE_CACHE.search(path.read_text(encoding="utf-8"))
    )
    assert offenders == []
    assert HAND_MADE_CACHE.search("if len(_x) > 10_000:\n        _x.clear()")  # the pattern works

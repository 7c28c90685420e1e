"""The import direction of the house style: `api` may import everything; `db` and `exports`
import `forms`; `forms` imports nothing of ours."""

from __future__ import annotations

import ast
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

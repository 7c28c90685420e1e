from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require

from .xforms_engine import (
    ENGINE_DIR,
    XFormsEngine,
    engine_installed,
    install_engine,
    node_available,
)


@pytest.fixture(scope="session")
def xforms_engine() -> Iterator[XFormsEngine]:
    """One engine process for the whole session; installs the engine (npm ci) when a clean
    clone has no node_modules yet."""
    require(node_available(), "node is not on PATH: the ODK Web Forms XForms engine needs Node >= 20.19")
    if not engine_installed(ENGINE_DIR):
        install_engine(ENGINE_DIR)
    with XFormsEngine(ENGINE_DIR) as engine:
        yield engine

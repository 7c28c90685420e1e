"""Under CI=true a test that needs a missing tool fails; elsewhere it is skipped."""

from __future__ import annotations

import pytest

import tests.conftest as shared


def test_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared.require(False, "java not on PATH")
    shared.require(True, "java not on PATH")  # present: nothing happens


def test_missing_tool_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "CI", False)
    with pytest.raises(pytest.skip.Exception):
        shared.require(False, "node not on PATH")
